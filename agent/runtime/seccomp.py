"""A seccomp profile in Docker's JSON format → the OCI runtime spec's ``linux.seccomp``, as Docker
(moby ``profiles/seccomp``) and containerd do it for one container. Pure: no I/O.

Docker's format lists rules with conditions; a rule applies when its ``includes`` hold (every listed
capability is in the container's set, the machine's architecture is listed, the kernel is at least
``minKernel``) and its ``excludes`` do not (no listed capability in the set, architecture not listed).
``archMap`` gives the native architecture and its sub-architectures (x86_64: x86 and x32 too).
``oci_seccomp`` is pure; ``load_profile`` reads a profile file (both runtimes use it: Docker is sent
the file's text, the oci runtime its conversion).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent.runtime.base import ContainerRuntimeError

# uname machine → (Go's GOARCH, as the profile's includes name it; libseccomp's SCMP_ARCH_*)
_ARCHES = {
    "x86_64": ("amd64", "SCMP_ARCH_X86_64"), "aarch64": ("arm64", "SCMP_ARCH_AARCH64"),
    "armv7l": ("arm", "SCMP_ARCH_ARM"), "ppc64le": ("ppc64le", "SCMP_ARCH_PPC64LE"),
    "s390x": ("s390x", "SCMP_ARCH_S390X"), "riscv64": ("riscv64", "SCMP_ARCH_RISCV64"),
}


def _kernel(release: str) -> tuple[int, int]:
    head = release.split("-", 1)[0].split(".")
    try:
        return int(head[0]), int(head[1]) if len(head) > 1 else 0
    except ValueError:
        return 0, 0


def oci_seccomp(profile: dict[str, Any], *, capabilities: tuple[str, ...], machine: str,
                kernel: str) -> dict[str, Any]:
    """``linux.seccomp`` for a container with ``capabilities`` on ``machine`` (``os.uname().machine``)
    running ``kernel`` (``os.uname().release``). ValueError for an architecture the profile lacks."""
    goarch, native = _ARCHES.get(machine, (machine, ""))
    architectures = []
    for arch in profile.get("archMap") or []:
        if arch.get("architecture") == native:
            architectures = [native, *(arch.get("subArchitectures") or [])]
    if profile.get("archMap") and not architectures:
        raise ValueError(f"the seccomp profile has no rules for the architecture {machine}")
    caps = set(capabilities)
    running = _kernel(kernel)
    syscalls = []
    for rule in profile.get("syscalls") or []:
        includes, excludes = rule.get("includes") or {}, rule.get("excludes") or {}
        if includes.get("arches") and goarch not in includes["arches"]:
            continue
        if excludes.get("arches") and goarch in excludes["arches"]:
            continue
        if includes.get("caps") and not caps.issuperset(includes["caps"]):
            continue
        if excludes.get("caps") and caps.intersection(excludes["caps"]):
            continue
        if includes.get("minKernel") and running < _kernel(str(includes["minKernel"])):
            continue
        names = list(rule.get("names") or ([rule["name"]] if rule.get("name") else []))
        entry: dict[str, Any] = {"names": names, "action": rule["action"]}
        if rule.get("args"):
            entry["args"] = [{k: v for k, v in arg.items() if k in ("index", "value", "valueTwo", "op")}
                             for arg in rule["args"]]
        if rule.get("errnoRet") is not None:
            entry["errnoRet"] = rule["errnoRet"]
        syscalls.append(entry)
    seccomp: dict[str, Any] = {"defaultAction": profile["defaultAction"], "architectures": architectures,
                               "syscalls": syscalls}
    if profile.get("defaultErrnoRet") is not None:
        seccomp["defaultErrnoRet"] = profile["defaultErrnoRet"]
    return seccomp


def load_profile(path: str) -> tuple[str, dict[str, Any]]:
    """(text, parsed) of the profile at ``path``; ContainerRuntimeError (CreateContainerError) when it
    cannot be read or is not a JSON object with a ``defaultAction``."""
    try:
        text = Path(path).read_text()
        profile = json.loads(text)
    except (OSError, ValueError) as exc:
        raise ContainerRuntimeError(f"cannot load the seccomp profile {path}: {exc}") from exc
    if not isinstance(profile, dict) or "defaultAction" not in profile:
        raise ContainerRuntimeError(f"cannot load the seccomp profile {path}: no defaultAction")
    return text, profile
