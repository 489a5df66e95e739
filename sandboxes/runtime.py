"""The Python that agent code runs: a virtualenv holding numpy and torch, and nothing of aar's.

A sandbox must never see aar's own packages (their data folder holds the testbeds'
labels), its virtualenv, the feature cache or any other agent's files. So agent code
does not run the host's virtualenv: it runs an *agent runtime*, a virtualenv built
here from the allow-listed distributions (``AGENT_DISTRIBUTIONS`` and what they
require) and cached under ``$AAR_CACHE_DIR/agent-runtime/<key>``. Files are
hard-linked from the host's install where the filesystem allows (no extra disk),
copied otherwise. The runtime's interpreter is a symlink into the base Python
install, so a sandbox binds the base install read-only as well; every site-packages
folder of the base install, and the folder aar itself is installed in, are masked
(``hidden``) wherever they lie inside something a sandbox can see.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.metadata as metadata
import json
import logging
import os
import re
import shutil
import site
import sys
import sysconfig
import tempfile
import threading
import venv
from dataclasses import dataclass
from pathlib import Path

from sandboxes.errors import SandboxError

logger = logging.getLogger(__name__)

AGENT_DISTRIBUTIONS = ("numpy", "torch")
"""What agent experiments import (the W2S task gives .npy features); their requirements come along."""
FORBIDDEN_DISTRIBUTIONS = frozenset({"aar"})
"""Never part of a runtime, whatever requires it."""
RUNTIME_ENV = "AAR_RUNTIME_DIR"
"""Where runtimes are cached; default ``$AAR_CACHE_DIR/agent-runtime`` (as the settings' cache)."""
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
"""Host dirs every host-runtime sandbox sees read-only (bubblewrap and the offline Docker image)."""
_COMPLETE = "aar-runtime.json"  # written last: a runtime without it is half-built
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _is_under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


@dataclass(frozen=True)
class AgentRuntime:
    """A built agent runtime and what a sandbox must bind and mask to run it."""

    root: str
    """The runtime virtualenv (real path); bound read-only at the same path."""
    base_dirs: tuple[str, ...]
    """Dirs of the base Python install outside ``SYSTEM_DIRS`` (its interpreter and stdlib)."""
    hidden: tuple[str, ...]
    """Dirs inside visible binds that are masked with an empty read-only mount."""
    distributions: tuple[str, ...]
    """``name==version`` of every distribution in the runtime."""

    @property
    def bin_dir(self) -> str:
        """The runtime's ``bin``: first on a sandbox's PATH, so ``python`` is the runtime's."""
        return os.path.join(self.root, "bin")

    @property
    def python(self) -> str:
        """The runtime's interpreter."""
        return os.path.join(self.bin_dir, "python")

    def binds(self) -> tuple[str, ...]:
        """Every host dir to bind read-only for this runtime, outermost first."""
        return (*self.base_dirs, self.root)


def default_cache_root() -> Path:
    """``$AAR_RUNTIME_DIR``, else ``$AAR_CACHE_DIR/agent-runtime``, else ``~/.cache/aar/agent-runtime``."""
    explicit = os.environ.get(RUNTIME_ENV)
    if explicit:
        return Path(explicit)
    cache = os.environ.get("AAR_CACHE_DIR")
    return (Path(cache) if cache else Path.home() / ".cache" / "aar") / "agent-runtime"


def runtime_distributions(names: tuple[str, ...] = AGENT_DISTRIBUTIONS) -> list[metadata.Distribution]:
    """The installed distributions ``names`` and everything they require (extras aside).

    A missing name from ``names`` is an error; a missing requirement is skipped (an
    optional dependency the host does not have). aar itself is never included.
    """
    found: dict[str, metadata.Distribution] = {}
    stack = [(name, True) for name in names]
    while stack:
        raw, required = stack.pop()
        name = _canonical(raw)
        if name in found or name in FORBIDDEN_DISTRIBUTIONS:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            if required:
                raise SandboxError(
                    f"the agent runtime needs the Python package {raw!r}, which is not installed "
                    f"(pip install {raw})"
                ) from None
            continue
        found[name] = dist
        for requirement in dist.requires or []:
            spec, _, marker = requirement.partition(";")
            if "extra" in marker:
                continue  # optional extras stay out
            match = _NAME.match(spec)
            if match:
                stack.append((match.group(1), False))
    return [found[name] for name in sorted(found)]


def _runtime_key(dists: list[metadata.Distribution]) -> str:
    parts = [sys.version, os.path.realpath(getattr(sys, "_base_executable", sys.executable))]
    for dist in dists:
        parts.append(f"{_canonical(dist.metadata['Name'])}=={dist.version}@{dist.locate_file('')}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _site_packages(root: str) -> str:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return os.path.join(root, "lib", version, "site-packages")


def _link_or_copy(source: str, dest: str) -> None:
    try:
        os.link(source, dest)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EACCES):
            raise
        shutil.copy2(source, dest)


def _populate(site_dir: str, dists: list[metadata.Distribution]) -> int:
    """Link every installed file of ``dists`` that lives in site-packages; returns the count."""
    count = 0
    for dist in dists:
        for entry in dist.files or []:
            relative = os.path.normpath(str(entry))
            if relative.startswith("..") or os.path.isabs(relative):
                continue  # console scripts and data outside site-packages
            source = str(dist.locate_file(entry))
            if not os.path.isfile(source):
                continue  # RECORD may list files pip did not write (e.g. uncompiled .pyc)
            dest = os.path.join(site_dir, relative)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if not os.path.lexists(dest):
                _link_or_copy(source, dest)
                count += 1
    return count


def _make_readable(root: str) -> None:
    """Dirs 0755 and files world-readable: a sandbox runs as a uid of its own."""
    for here, dirs, files in os.walk(root):
        os.chmod(here, 0o755)
        for name in files:
            path = os.path.join(here, name)
            if not os.path.islink(path):
                mode = os.stat(path).st_mode
                if mode & 0o444 != 0o444:
                    os.chmod(path, mode | 0o444)


def build_runtime(cache_root: Path, names: tuple[str, ...] = AGENT_DISTRIBUTIONS) -> str:
    """Build (or find) the runtime for ``names`` under ``cache_root``; returns its real path.

    Built in a temporary sibling and renamed into place, so a crash never leaves a
    half-built runtime in use and two processes building at once both end up with one.
    Blocking: seconds with hard links, longer when the files must be copied.
    """
    dists = runtime_distributions(names)
    cache_root.mkdir(parents=True, exist_ok=True)
    final = cache_root / _runtime_key(dists)
    if (final / _COMPLETE).is_file():
        return os.path.realpath(final)
    work = tempfile.mkdtemp(prefix=".building-", dir=cache_root)
    try:
        venv.EnvBuilder(symlinks=True, with_pip=False, clear=False).create(work)
        count = _populate(_site_packages(work), dists)
        described = [f"{dist.metadata['Name']}=={dist.version}" for dist in dists]
        with open(os.path.join(work, _COMPLETE), "w", encoding="utf-8") as f:
            json.dump({"distributions": described, "files": count}, f)
        _make_readable(work)
        try:
            os.rename(work, final)
        except OSError:
            if not (final / _COMPLETE).is_file():
                raise
            shutil.rmtree(work, ignore_errors=True)  # another process finished first
        else:
            logger.info("built the agent runtime %s (%d files: %s)", final, count, ", ".join(described))
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return os.path.realpath(final)


def base_python_dirs() -> tuple[str, ...]:
    """The base install's dirs outside ``SYSTEM_DIRS`` (interpreter, stdlib), outermost only.

    Never the virtualenv aar runs in: that is where aar and its data are installed.
    """
    base = getattr(sys, "_base_executable", sys.executable)
    candidates = {
        os.path.realpath(p) for p in (sys.base_prefix, sys.base_exec_prefix)
    }
    candidates.add(os.path.dirname(os.path.dirname(os.path.realpath(base))))
    kept: list[str] = []
    for path in sorted(candidates, key=len):
        if not os.path.isdir(path) or path == "/":
            continue
        if any(_is_under(path, d) for d in (*SYSTEM_DIRS, *kept)):
            continue
        kept.append(path)
    return tuple(kept)


def aar_install_root() -> str:
    """The folder that holds aar's packages: site-packages for a wheel, the checkout for a dev install."""
    return os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def _hidden_dirs(visible: tuple[str, ...], needed: tuple[str, ...]) -> tuple[str, ...]:
    """Dirs to mask: the base install's site dirs, aar's install root and venv, where visible.

    A candidate that holds something the runtime needs (its interpreter, stdlib or
    the runtime itself) is never masked.
    """
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = set(site.getsitepackages([sys.base_prefix]))
    candidates.update({
        "/usr/lib/python3/dist-packages",
        f"/usr/local/lib/{version}/dist-packages",
        f"/usr/local/lib/{version}/site-packages",
        f"/usr/lib/{version}/site-packages",
        f"/usr/lib/{version}/dist-packages",
        aar_install_root(),
        sys.prefix,
    })
    user_site = site.getusersitepackages() if hasattr(site, "getusersitepackages") else None
    if user_site:
        candidates.add(user_site)
    hidden: set[str] = set()
    for candidate in candidates:
        real = os.path.realpath(candidate)
        if not os.path.isdir(real):
            continue
        if not any(_is_under(real, v) for v in visible):
            continue  # not visible anyway
        if any(_is_under(n, real) for n in needed):
            continue  # masking it would break the runtime
        hidden.add(real)
    # Outermost only: a mask inside a mask would need a mount point that no longer exists.
    return tuple(h for h in sorted(hidden, key=len) if not any(_is_under(h, o) and h != o for o in hidden))


_lock = threading.Lock()
_cached: dict[str, AgentRuntime] = {}


def agent_runtime(cache_root: Path | None = None) -> AgentRuntime:
    """The agent runtime for this host, built on first use and cached (per process and on disk)."""
    root_dir = cache_root or default_cache_root()
    key = str(root_dir)
    with _lock:
        if key in _cached and os.path.isfile(os.path.join(_cached[key].root, _COMPLETE)):
            return _cached[key]
        root = build_runtime(root_dir)
        base_dirs = base_python_dirs()
        visible = (*SYSTEM_DIRS, *base_dirs, root)
        stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
        base_exe = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
        with open(os.path.join(root, _COMPLETE), encoding="utf-8") as f:
            described = tuple(json.load(f)["distributions"])
        runtime = AgentRuntime(
            root=root,
            base_dirs=base_dirs,
            hidden=_hidden_dirs(visible, (root, stdlib, base_exe)),
            distributions=described,
        )
        _cached[key] = runtime
        return runtime
