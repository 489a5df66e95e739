"""Attacks on the sandboxes of a *wheel* install of aar, run with that install's Python.

Not a test module: ``test_wheel_hostile.py`` builds a wheel, installs it into a fresh
virtualenv and runs this script with that virtualenv's interpreter, so ``experiments``
(and its data folder of labelled testbeds) lives inside the venv exactly as it does
for a user who ran ``pip install aar``. Prints one JSON object on stdout.

- ``search``: plant canaries where aar keeps what agents must not read (the installed
  data folder, the feature cache, the campaign home, a bystander agent's work dir),
  then, from inside a sandbox, try to import aar, scan every readable file for any
  file of aar's install or a canary (by size and SHA-256, and by name), and read
  ``/proc`` (environments, command lines, and each process's root and cwd links
  towards the host paths of those files). A copy of one forbidden file planted in the
  agent's own work dir is the positive control: the scan must find exactly that one.
- ``links``: agent code swaps its inputs (``data``, a file in it, ``shared``) for links to
  the install's data folder, ``$AAR_HOME``, the venv, the test's dir, ``/tmp`` and ``/``
  (each holding a canary); the sandbox is used again, restarted and (Docker) its container
  re-created; then the view (cwd, cgroup, environ, mountinfo) is read for host paths.
- ``race``: agent code flips its files (and a folder) between regular files and
  symlinks to host files while the host copies its code for a reproduction run and
  reads its predictions, ``--tries`` times.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import agents
import experiments
from agents.reproduction import _agent_code
from sandboxes import SandboxError, SandboxLimits, create_sandbox
from sandboxes.protocol import Sandbox

CANARY = b"AAR-CANARY-7f3e1c"
LIMITS = SandboxLimits(timeout_s=240.0, memory_bytes=2 * 1024**3, processes=128, output_cap_bytes=4 * 1024**2)

SCAN = r'''
import hashlib, json, os, sys
spec = json.load(open("forbidden.json"))
sizes = {int(k): set(v) for k, v in spec["sizes"].items()}
names = set(spec["names"])
host_paths = spec["host_paths"]
canary = spec["canary"].encode()
matches, name_hits, proc_hits, errors = [], [], [], 0
scanned = 0

def check(path):
    global scanned, errors
    try:
        st = os.lstat(path)
    except OSError:
        return
    if not os.path.isfile(path) or os.path.islink(path):
        return
    scanned += 1
    if os.path.basename(path) in names:
        name_hits.append(path)
    if st.st_size in sizes:
        try:
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
        except OSError:
            errors += 1
            return
        if digest in sizes[st.st_size]:
            matches.append(path)
    elif st.st_size < 4096:
        try:
            with open(path, "rb") as f:
                if canary in f.read():
                    matches.append(path)
        except OSError:
            errors += 1

for top, dirs, files in os.walk("/", onerror=None):
    if top in ("/proc", "/sys"):
        dirs[:] = []
        continue
    for name in files:
        check(os.path.join(top, name))

pids = [p for p in os.listdir("/proc") if p.isdigit()] + ["self", "thread-self"]
for pid in pids:
    for leaf in ("environ", "cmdline", "mountinfo", "maps"):
        try:
            with open(f"/proc/{pid}/{leaf}", "rb") as f:
                data = f.read()
        except OSError:
            continue
        if canary in data or b"ANTHROPIC_API_KEY" in data:
            proc_hits.append(f"/proc/{pid}/{leaf}")
    for link in ("root", "cwd"):
        for target in host_paths:
            path = f"/proc/{pid}/{link}{target}"
            try:
                with open(path, "rb") as f:
                    f.read(1)
                proc_hits.append(path)
            except OSError:
                pass
json.dump({"scanned": scanned, "matches": matches, "name_hits": name_hits,
           "proc_hits": proc_hits, "read_errors": errors}, sys.stdout)
'''

IMPORTS = (
    "import importlib, json\n"
    "out = {}\n"
    "for name in ('experiments', 'agents', 'sandboxes', 'tui', 'numpy', 'torch'):\n"
    "    try:\n"
    "        importlib.import_module(name); out[name] = True\n"
    "    except ImportError:\n"
    "        out[name] = False\n"
    "print(json.dumps(out))\n"
)

FLIPPER = r'''
import os, sys, time
secret_file, secret_dir, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
os.makedirs("lib_real", exist_ok=True)
with open("lib_real/util.py", "w") as f:
    f.write("HONEST = 1\n")
end = time.monotonic() + seconds
flips = 0
while time.monotonic() < end:
    for name, honest in (("train.py", "print('honest')\n"), ("predictions.json", '{"ids": [], "probs": []}')):
        with open(name + ".tmp", "w") as f:
            f.write(honest)
        os.rename(name + ".tmp", name)
        try:
            os.unlink(name + ".lnk")
        except FileNotFoundError:
            pass
        os.symlink(secret_file, name + ".lnk")
        os.rename(name + ".lnk", name)
    # The folder too: a real dir one moment, a link to a host dir the next.
    os.rename("lib_real", "lib")
    os.rename("lib", "lib_real")
    os.symlink(secret_dir, "lib")
    os.unlink("lib")
    flips += 1
print(flips)
'''


def _fingerprints(roots: list[Path]) -> tuple[dict[int, list[str]], set[str], list[str]]:
    sizes: dict[int, list[str]] = {}
    names: set[str] = set()
    paths: list[str] = []
    for root in roots:
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.is_symlink() or "__pycache__" in path.parts:
                continue
            data = path.read_bytes()
            if len(data) < 64:
                continue  # empty __init__.py and the like: any install has those, and they hold nothing
            sizes.setdefault(len(data), []).append(hashlib.sha256(data).hexdigest())
            paths.append(str(path))
            if path.suffix in (".gz", ".safetensors", ".db") or "canary" in path.name:
                names.add(path.name)
    return sizes, names, paths


def _make(backend: str, workdir: Path, image: str | None, **inputs: Any) -> Sandbox:
    if backend == "docker":
        from sandboxes.docker_sandbox import DockerSandbox

        return DockerSandbox(workdir=workdir, limits=LIMITS, image=image, campaign="pytest-wheel", **inputs)
    return create_sandbox(backend, workdir=workdir, limits=LIMITS, **inputs)


async def search(backend: str, work: Path, image: str | None) -> dict[str, object]:
    package_dir = Path(experiments.__file__).resolve().parent
    install_root = package_dir.parent
    planted = [
        package_dir / "data" / "canary_labels.jsonl.gz",
        Path(os.environ["AAR_CACHE_DIR"]) / "features" / "canary.safetensors",
        Path(os.environ["AAR_HOME"]) / "campaigns" / "canary.db",
    ]
    for path in planted:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(CANARY + b" ground-truth labels " + path.name.encode())
    bystander = _make(backend, work / "runs" / "agent-2", image)
    await bystander.start()
    await bystander.write_file("notes/canary_bystander.txt", CANARY + b" another agent's notes")
    roots = [install_root / name for name in ("experiments", "agents", "sandboxes", "tui")]
    roots += [path.parent for path in planted[1:]] + [bystander.workdir]
    sizes, names, host_paths = _fingerprints(roots)
    attacker = _make(backend, work / "runs" / "agent-1", image)
    await attacker.start()
    try:
        spec = {"sizes": sizes, "names": sorted(names), "host_paths": host_paths, "canary": CANARY.decode()}
        await attacker.write_file("forbidden.json", json.dumps(spec))
        control = package_dir / "scorer.py"
        await attacker.write_file("control/scorer_copy.py", control.read_bytes())
        imports = await attacker.exec(["python", "-c", IMPORTS], timeout_s=120)
        await attacker.write_file("scan.py", SCAN)
        scan = await attacker.exec(["python", "scan.py"], timeout_s=240)
        if scan.returncode != 0:
            raise SystemExit(f"the scan failed: {scan.stderr[-2000:]}")
        return {
            "isolation": attacker.isolation,
            "install_root": str(install_root),
            "imports": json.loads(imports.stdout),
            "scan": json.loads(scan.stdout),
            "control": str(Path(str(attacker.workdir)) / "control" / "scorer_copy.py"),
        }
    finally:
        await attacker.close()
        await bystander.close()


async def race(backend: str, work: Path, image: str | None, tries: int) -> dict[str, object]:
    label_file = Path(experiments.__file__).resolve().parent / "data" / "stdlib_docstrings.jsonl.gz"
    secret_dir = work / "host-secrets"
    secret_dir.mkdir(parents=True, exist_ok=True)
    secret_file = secret_dir / "util.py"
    secret_file.write_bytes(CANARY + b" host file\n")
    label_head = label_file.read_bytes()[:64]
    sandbox = _make(backend, work / "runs" / "agent-1", image)
    await sandbox.start()
    copied_ok = leaks = read_ok = refused = 0
    try:
        await sandbox.write_file("flip.py", FLIPPER)
        flipper = asyncio.create_task(
            sandbox.exec(["python", "flip.py", str(label_file), str(secret_dir), "600"], timeout_s=230)
        )
        await asyncio.sleep(1.5)  # the flipper is running
        root = Path(str(sandbox.workdir))
        for attempt in range(tries):
            # Alternate the two targets the links point at: the labels and a host file.
            if attempt % 2:
                secret_file.write_bytes(CANARY + b" host file\n")
            code = await asyncio.to_thread(_agent_code, root)
            for relative, content in code.items():
                if CANARY in content or content.startswith(label_head[:16]):
                    leaks += 1
                elif relative == "train.py":
                    copied_ok += 1
            try:
                data = await sandbox.read_file("predictions.json")
                if CANARY in data or data.startswith(label_head[:16]):
                    leaks += 1
                read_ok += 1
            except SandboxError:
                refused += 1
            await asyncio.sleep(0.005)
        flipper.cancel()
        await asyncio.gather(flipper, return_exceptions=True)
    finally:
        await sandbox.close()
    return {"isolation": sandbox.isolation, "tries": tries, "leaks": leaks,
            "train_py_copied": copied_ok, "predictions_read": read_ok, "predictions_refused": refused}


CAMPAIGN_ID = "campaign-5b2e77"
VIEW = ("echo CWD $(pwd); cat /proc/self/cgroup; tr '\\0' '\\n' < /proc/self/environ; "
        "echo MOUNTINFO; cat /proc/self/mountinfo")


def _leaks(text: str, words: list[str]) -> list[str]:
    return [word for word in words if word in text]


async def links(backend: str, work: Path, image: str | None) -> dict[str, object]:
    """The link attack on a campaign-shaped sandbox of this install, then a look at its view."""
    from link_attack import CANARY as LINK_CANARY
    from link_attack import PLANT, SEARCH

    package_data = Path(experiments.__file__).resolve().parent / "data"
    home = Path(os.environ["AAR_HOME"])
    run_dir = work / "runs" / CAMPAIGN_ID
    for place in (package_data, home, Path(sys.prefix), work):
        place.mkdir(parents=True, exist_ok=True)
        (place / "canary-host.txt").write_text(LINK_CANARY)
    task = run_dir / "task"
    task.mkdir(parents=True)
    (task / "TASK.md").write_text("the task")
    forum = run_dir / "shared"
    forum.mkdir()
    inputs = {"data_files": {"TASK.md": task / "TASK.md"}, "shared_dir": forum}
    workdir = run_dir / "agent-1" / "work"
    targets = [str(package_data), str(home), sys.prefix, str(work), "/tmp", "/"]
    stages: dict[str, dict[str, object]] = {}

    async def search(sandbox: Sandbox, stage: str) -> None:
        seen = await sandbox.exec(["bash", "-c", SEARCH, "search", LINK_CANARY], timeout_s=120)
        lines = seen.stdout.strip().splitlines()
        stages[stage] = {"found": [line for line in lines if line.startswith("FOUND")],
                         "reads": int(lines[-1]) if lines and lines[-1].isdigit() else -1}

    sandbox = _make(backend, workdir, image, **inputs)
    await sandbox.start()
    try:
        await sandbox.write_file("control-canary.txt", LINK_CANARY)  # positive control
        await search(sandbox, "control")
        await sandbox.exec(["rm", "control-canary.txt"])
        planted = await sandbox.exec(["bash", "-c", PLANT, "plant", " ".join(targets)], timeout_s=30)
        if planted.stdout.strip() != "planted":
            raise SystemExit(f"planting failed: {planted}")
        await search(sandbox, "next exec")
        if backend == "docker":
            await sandbox._recreate()  # type: ignore[attr-defined]  # what a wedged exec leads to
            await search(sandbox, "container re-created")
    finally:
        await sandbox.close()
    sandbox = _make(backend, workdir, image, **inputs)
    await sandbox.start()
    try:
        await search(sandbox, "restart")
        view = (await sandbox.exec(["sh", "-c", VIEW])).stdout
        data = (await sandbox.exec(["cat", "/data/TASK.md"])).stdout
    finally:
        await sandbox.close()
    general, _, mountinfo = view.partition("MOUNTINFO")
    words = [str(work), os.path.realpath(work), sys.prefix, str(home), str(package_data), CAMPAIGN_ID, "agent-1"]
    return {"isolation": sandbox.isolation, "stages": stages, "data": data,
            "view_leaks": _leaks(general, words), "mountinfo_leaks": _leaks(mountinfo, words)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["search", "race", "links"])
    parser.add_argument("--backend", required=True)
    parser.add_argument("--work", required=True, type=Path)
    parser.add_argument("--image")
    parser.add_argument("--tries", type=int, default=200)
    args = parser.parse_args()
    here = Path(experiments.__file__).resolve()
    where = {"python": sys.executable, "prefix": sys.prefix, "experiments": str(here), "agents": agents.__file__}
    started = time.monotonic()
    if args.mode == "search":
        result = asyncio.run(search(args.backend, args.work, args.image))
    elif args.mode == "links":
        result = asyncio.run(links(args.backend, args.work, args.image))
    else:
        result = asyncio.run(race(args.backend, args.work, args.image, args.tries))
    print(json.dumps({"where": where, "seconds": round(time.monotonic() - started, 1), **result}))


if __name__ == "__main__":
    main()
