"""The Python that agent code runs: a virtualenv holding numpy and torch, and nothing of aar's.

A sandbox must never see aar's own packages (their data folder holds the testbeds'
labels), its virtualenv, the feature cache or any other agent's files. So agent code
does not run the host's virtualenv: it runs an *agent runtime*, a virtualenv built
here from the allow-listed distributions (``AGENT_DISTRIBUTIONS`` and what they
require) and cached under ``$AAR_CACHE_DIR/agent-runtime/<key>``. Files are
hard-linked from the host's install where the filesystem allows (no extra disk),
copied otherwise.

Every sandbox sees the runtime at the same fixed place, whatever the host's layout:
the virtualenv at ``/runtime/venv`` and the base Python install it links to at
``/runtime/python`` (a base install under ``/usr`` stays where it is, inside the
system dirs). So the virtualenv is built twice over one site-packages: ``venv/``,
whose interpreter link and ``pyvenv.cfg`` name the in-sandbox places, and ``host/``,
which names the host's, for the isolation levels that show agent code the host
filesystem. Every site-packages folder of the base install, and the folder aar itself
is installed in, are masked (``hidden``, in-sandbox paths) wherever a sandbox could see them.
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


RUNTIME_MOUNT = "/runtime"
"""Where every sandbox sees the agent runtime: ``venv/`` and ``python/`` (the base install)."""
VENV_MOUNT = f"{RUNTIME_MOUNT}/venv"
PYTHON_MOUNT = f"{RUNTIME_MOUNT}/python"


@dataclass(frozen=True)
class AgentRuntime:
    """A built agent runtime and what a sandbox must mount and mask to run it."""

    root: str
    """The sandbox view of the runtime virtualenv (real host path), seen at ``VENV_MOUNT``."""
    host_root: str
    """The same virtualenv as the host sees it (its interpreter link names host paths), for the
    isolation levels without a filesystem of their own."""
    base_dir: str | None
    """The base Python install (host path) seen at ``PYTHON_MOUNT``; None when it lies in ``/usr``."""
    hidden: tuple[str, ...]
    """In-sandbox dirs masked with an empty read-only mount (site-packages of the base install)."""
    distributions: tuple[str, ...]
    """``name==version`` of every distribution in the runtime."""

    @property
    def bin_dir(self) -> str:
        """The runtime's ``bin`` inside a sandbox: first on PATH, so ``python`` is the runtime's."""
        return f"{VENV_MOUNT}/bin"

    @property
    def host_bin_dir(self) -> str:
        """The runtime's ``bin`` for agent code that runs on the host's filesystem."""
        return os.path.join(self.host_root, "bin")

    @property
    def python(self) -> str:
        """The runtime's interpreter, inside a sandbox."""
        return f"{self.bin_dir}/python"

    def mounts(self) -> tuple[tuple[str, str], ...]:
        """(host dir, in-sandbox dir) pairs to mount read-only for this runtime."""
        pairs = [(self.root, VENV_MOUNT)]
        if self.base_dir is not None:
            pairs.insert(0, (self.base_dir, PYTHON_MOUNT))
        return tuple(pairs)


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


_LAYOUT = "2"  # venv/ + host/ over one site-packages, mounted at RUNTIME_MOUNT


def _runtime_key(dists: list[metadata.Distribution]) -> str:
    parts = [_LAYOUT, sys.version, _base_executable()]
    for dist in dists:
        parts.append(f"{_canonical(dist.metadata['Name'])}=={dist.version}@{dist.locate_file('')}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _site_packages(root: str) -> str:
    return os.path.join(root, "lib", _python_name(), "site-packages")


def link_or_copy(source: str, dest: str) -> None:
    """A hard link of ``source`` at ``dest`` where the filesystem allows (no disk), else a copy."""
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
                link_or_copy(source, dest)
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


def _python_name() -> str:
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


def _base_executable() -> str:
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


def base_python_dir() -> str | None:
    """The base install's one dir outside ``SYSTEM_DIRS`` (interpreter and stdlib), or None
    when the base install lies inside them (a distribution's ``/usr/bin/python3``).

    Raises ``SandboxError`` for an install split over several such dirs: a sandbox mounts
    exactly one at ``PYTHON_MOUNT``.
    """
    dirs = base_python_dirs()
    if not dirs:
        return None
    if len(dirs) > 1:
        raise SandboxError(
            f"the base Python install is split over {', '.join(dirs)}; the agent runtime needs one "
            "prefix (use a Python whose prefix and exec prefix are one folder)"
        )
    if not _is_under(_base_executable(), dirs[0]):
        raise SandboxError(f"the base Python's interpreter {_base_executable()} lies outside its prefix {dirs[0]}")
    return dirs[0]


def _in_sandbox(host_path: str, base_dir: str | None) -> str:
    """Where a sandbox sees ``host_path`` of the base install."""
    if base_dir is not None and _is_under(host_path, base_dir):
        return PYTHON_MOUNT + host_path[len(base_dir):]
    return host_path


def _sandbox_venv(root: str, host_venv: str, base_dir: str | None) -> None:
    """The virtualenv as a sandbox sees it at ``VENV_MOUNT``: its interpreter links and
    ``pyvenv.cfg`` name ``PYTHON_MOUNT``; its site-packages is the only real one (the host
    view links to it)."""
    python = _in_sandbox(_base_executable(), base_dir)
    os.makedirs(os.path.join(root, "bin"))
    for name in ("python", "python3", _python_name()):
        os.symlink(python, os.path.join(root, "bin", name))
    with open(os.path.join(root, "pyvenv.cfg"), "w", encoding="utf-8") as f:
        f.write(f"home = {os.path.dirname(python)}\ninclude-system-site-packages = false\n"
                f"version = {'.'.join(map(str, sys.version_info[:3]))}\n")
    os.makedirs(os.path.dirname(_site_packages(root)))
    os.rename(_site_packages(host_venv), _site_packages(root))
    os.symlink(os.path.relpath(_site_packages(root), os.path.dirname(_site_packages(host_venv))),
               _site_packages(host_venv))


def build_runtime(cache_root: Path, names: tuple[str, ...] = AGENT_DISTRIBUTIONS) -> str:
    """Build (or find) the runtime for ``names`` under ``cache_root``; returns its real path
    (holding ``venv/``, the sandbox view, and ``host/``, the host view).

    Built in a temporary sibling and renamed into place, so a crash never leaves a
    half-built runtime in use and two processes building at once both end up with one.
    Blocking: seconds with hard links, longer when the files must be copied.
    """
    dists = runtime_distributions(names)
    base_dir = base_python_dir()
    cache_root.mkdir(parents=True, exist_ok=True)
    final = cache_root / _runtime_key(dists)
    if (final / _COMPLETE).is_file():
        return os.path.realpath(final)
    work = tempfile.mkdtemp(prefix=".building-", dir=cache_root)
    try:
        host_venv = os.path.join(work, "host")
        venv.EnvBuilder(symlinks=True, with_pip=False, clear=False).create(host_venv)
        count = _populate(_site_packages(host_venv), dists)
        _sandbox_venv(os.path.join(work, "venv"), host_venv, base_dir)
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
        if key in _cached and os.path.isfile(os.path.join(os.path.dirname(_cached[key].root), _COMPLETE)):
            return _cached[key]
        root = build_runtime(root_dir)
        base_dir = base_python_dir()
        host_visible = (*SYSTEM_DIRS, *((base_dir,) if base_dir else ()))
        stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
        host_hidden = _hidden_dirs(host_visible, (root, stdlib, _base_executable()))
        with open(os.path.join(root, _COMPLETE), encoding="utf-8") as f:
            described = tuple(json.load(f)["distributions"])
        runtime = AgentRuntime(
            root=os.path.join(root, "venv"),
            host_root=os.path.join(root, "host"),
            base_dir=base_dir,
            hidden=tuple(_in_sandbox(path, base_dir) for path in host_hidden),
            distributions=described,
        )
        _cached[key] = runtime
        return runtime
