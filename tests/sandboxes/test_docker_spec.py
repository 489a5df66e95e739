"""The Docker sandbox's container spec and what it reads from an image, without an engine."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import pytest

pytest.importorskip("docker", reason="the docker SDK is not installed")

from sandboxes.bwrap import STAGE, BwrapBinary  # noqa: E402
from sandboxes.docker_image import SandboxImage  # noqa: E402
from sandboxes.docker_view import parse_layout  # noqa: E402
from sandboxes.docker_spec import BWRAP_INSIDE, SECCOMP_DENY, container_spec, seccomp_profile  # noqa: E402
from sandboxes.layout import box_for  # noqa: E402
from sandboxes.limits import SandboxLimits  # noqa: E402


def test_an_images_system_dirs_are_read_as_links_and_dirs_and_nothing_else() -> None:
    listing = "dir /usr\nlink /bin usr/bin\nlink /lib usr/lib\ndir /etc\nlink /usr/../x y\nnoise\ndir /lib64 extra\n"
    assert parse_layout(listing) == (("/usr", None), ("/bin", "usr/bin"), ("/lib", "usr/lib"), ("/lib64", None))
    assert parse_layout("") == ()


def test_the_seccomp_profile_denies_the_kernels_soft_spots_on_every_abi() -> None:
    profile = json.loads(seccomp_profile())
    assert profile["defaultAction"] == "SCMP_ACT_ALLOW"
    [rule] = profile["syscalls"]
    assert rule["action"] == "SCMP_ACT_ERRNO" and rule["errnoRet"] == 1
    assert {"keyctl", "bpf", "perf_event_open", "io_uring_setup", "userfaultfd", "setns", "open_by_handle_at",
            "kexec_load", "init_module"} <= set(rule["names"])
    assert set(rule["names"]) == set(SECCOMP_DENY)
    assert not {"unshare", "mount", "pivot_root", "clone"} & set(rule["names"]), "bwrap builds the view with these"
    if platform.machine() == "x86_64":
        assert profile["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]


def test_the_container_stages_only_host_owned_places_at_fixed_targets(tmp_path: Path) -> None:
    box = box_for(str(tmp_path / "campaign-1" / "agent-1" / "work"))
    system_bwrap = BwrapBinary(path="/usr/bin/bwrap")
    spec = container_spec(SandboxImage("own:1", host_runtime=False), name="n", box=box, limits=SandboxLimits(),
                          labels={}, bwrap=system_bwrap, shared=str(tmp_path / "forum"))
    mounts = {m["Target"]: m for m in spec.host["mounts"]}
    assert mounts[f"{STAGE}/box"]["Source"] == box.parent and not mounts[f"{STAGE}/box"]["ReadOnly"]
    assert mounts[f"{STAGE}/shared"]["Source"] == str(tmp_path / "forum") and mounts[f"{STAGE}/shared"]["ReadOnly"]
    assert mounts[BWRAP_INSIDE]["Source"] == "/usr/bin/bwrap" and mounts[BWRAP_INSIDE]["ReadOnly"]
    assert mounts[f"{STAGE}/empty"]["Type"] == "tmpfs"
    assert all(target.startswith(f"{STAGE}/") for target in mounts), "an own image keeps its system dirs"
    assert all(m["ReadOnly"] for target, m in mounts.items() if target != f"{STAGE}/box")
    assert spec.host["read_only"] and spec.host["cap_drop"] == ["ALL"] and spec.host["network_mode"] == "none"
    assert "no-new-privileges" in spec.host["security_opt"] and spec.create["user"] == "65534:65534"
    assert spec.raw_host == {"MaskedPaths": [], "ReadonlyPaths": []}, "bwrap masks /proc in the sandbox instead"
