"""A container's OCI runtime spec (``config.json``) from its ``ContainerSpec`` and its image's config.

Pure: no I/O. The template is the ``config.json`` that ``umoci unpack`` writes for the image (it
already carries the image's Entrypoint/Cmd, Env, WorkingDir and User, as the OCI image spec's
"conversion to runtime config" says); this module applies what the pod asks on top, the way the
kubelet + CRI runtime do (kubernetes/pkg/kubelet/kuberuntime, containerd's ``WithProcessArgs``):

- ``command`` replaces the entrypoint and drops the image's Cmd; ``args`` replaces the Cmd only;
- ``env`` is merged over the image's (the pod wins);
- the network namespace is the pod sandbox's (``/var/run/netns/<name>``); PID, mount, IPC and UTS
  are the container's own, the hostname is the pod's name;
- ``limits.cpu`` → CFS quota over a 100 ms period, ``requests.cpu`` → shares, ``limits.memory`` →
  memory limit with swap equal to it (no swap, so going over is an OOM kill, as under the kubelet);
- volumes are recursive bind mounts, read-only where asked;
- ``tty`` → ``process.terminal`` (the supervisor serves runc's console socket);
- an exec with a terminal runs the container's process settings with its own args, a terminal and
  ``consoleSize`` (``exec_process``);
- ``security`` (``agent/security.py`` decided it) → user, additional groups, read-only root,
  capabilities (bounding/permitted/effective; none inheritable or ambient, as Docker and containerd),
  ``noNewPrivileges``, ``linux.seccomp`` (converted by the caller, ``agent/runtime/seccomp.py``); privileged:
  nothing masked or read-only in /proc and /sys, every device allowed by the devices cgroup.
"""

from __future__ import annotations

import copy
from typing import Any

from agent.runtime.base import LABEL_POD_NAME, ContainerSpec, SecuritySettings, TerminalSize

CPU_PERIOD_US = 100_000  # the kubelet's CFS period (100 ms)


def cpu_quota(limit_millis: int) -> int:
    """CFS quota in µs per period for a cpu limit (kubelet MilliCPUToQuota; at least 1 ms)."""
    return max(1000, limit_millis * CPU_PERIOD_US // 1000)


def cpu_shares(request_millis: int) -> int:
    """cpu.shares for a cpu request (kubelet MilliCPUToShares: 1024 per core, at least 2)."""
    return max(2, request_millis * 1024 // 1000)


def process_args(image_args: list[str], image_entrypoint: list[str] | None, spec: ContainerSpec) -> list[str]:
    """The process's argv. ``image_args`` is umoci's (Entrypoint + Cmd); ``image_entrypoint`` splits it
    when known (None: treat all of it as Cmd when the pod sets a command, as Entrypoint otherwise)."""
    entry = list(image_entrypoint or [])
    cmd = image_args[len(entry):] if image_args[: len(entry)] == entry else list(image_args)
    if spec.command is not None:
        return list(spec.command) + list(spec.args or [])
    return entry + (list(spec.args) if spec.args is not None else cmd)


def merge_env(image_env: list[str], env: dict[str, str]) -> list[str]:
    merged: dict[str, str] = {}
    for item in image_env:
        name, _, value = item.partition("=")
        merged[name] = value
    merged.update(env)
    return [f"{k}={v}" for k, v in merged.items()]


def runtime_spec(
    template: dict[str, Any], spec: ContainerSpec, *, rootfs: str, netns_path: str | None,
    cgroups_path: str, image_entrypoint: list[str] | None = None, seccomp: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``config.json`` for one container. ``template``: umoci's config for the image (not modified);
    ``seccomp``: ``linux.seccomp`` for ``spec.security.seccomp_profile`` (None: unconfined)."""
    config = copy.deepcopy(template)
    process = config.setdefault("process", {})
    # `tty: true`: runc makes a pty and sends its master to the supervisor's console socket
    process["terminal"] = spec.tty
    process["args"] = process_args(list(process.get("args") or []), image_entrypoint, spec)
    process["env"] = merge_env(list(process.get("env") or []), spec.env)
    config["root"] = {"path": rootfs, "readonly": False}
    config["hostname"] = spec.labels.get(LABEL_POD_NAME, spec.name)[:63]
    linux = config.setdefault("linux", {})
    namespaces = [ns for ns in linux.get("namespaces") or [] if ns.get("type") != "network"]
    network: dict[str, str] = {"type": "network"}
    if netns_path:
        network["path"] = netns_path
    linux["namespaces"] = [*namespaces, network]
    linux["cgroupsPath"] = cgroups_path
    resources: dict[str, Any] = {}
    cpu: dict[str, int] = {}
    if spec.cpu_millis:
        cpu.update(quota=cpu_quota(spec.cpu_millis), period=CPU_PERIOD_US)
    if spec.cpu_request_millis is not None:
        cpu["shares"] = cpu_shares(spec.cpu_request_millis)
    if cpu:
        resources["cpu"] = cpu
    if spec.memory_bytes:
        resources["memory"] = {"limit": spec.memory_bytes, "swap": spec.memory_bytes}
    linux["resources"] = {**(linux.get("resources") or {}), **resources}
    mounts = list(config.get("mounts") or [])
    for mount in spec.mounts:
        mounts.append({"destination": mount.target, "type": "bind", "source": mount.source,
                       "options": ["rbind", "ro" if mount.read_only else "rw"]})
    config["mounts"] = mounts
    apply_security(config, spec.security, seccomp)
    return config


def apply_security(config: dict[str, Any], security: SecuritySettings, seccomp: dict[str, Any] | None) -> None:
    process = config["process"]
    user = process.setdefault("user", {"uid": 0, "gid": 0})
    if security.run_as_user is not None:
        # a numeric user the image does not name: group 0 unless runAsGroup says (Docker does the same)
        user["uid"], user["gid"] = security.run_as_user, 0
    if security.run_as_group is not None:
        user["gid"] = security.run_as_group
    if security.supplemental_groups:
        user["additionalGids"] = list(security.supplemental_groups)
    caps = list(security.capabilities)
    process["capabilities"] = {"bounding": caps, "effective": caps, "permitted": caps, "inheritable": [],
                               "ambient": []}
    process["noNewPrivileges"] = security.no_new_privileges
    config["root"]["readonly"] = security.read_only_root
    linux = config["linux"]
    linux.pop("seccomp", None)
    if seccomp is not None and not security.privileged:
        linux["seccomp"] = seccomp
    if security.privileged:
        linux["maskedPaths"], linux["readonlyPaths"] = [], []
        linux["resources"]["devices"] = [{"allow": True, "access": "rwm"}]
        for mount in config["mounts"]:
            if mount.get("type") in ("sysfs", "cgroup"):
                mount["options"] = [o for o in mount.get("options") or [] if o != "ro"] + ["rw"]


def exec_process(config: dict[str, Any], command: list[str], size: TerminalSize | None) -> dict[str, Any]:
    """The ``process`` for ``runc exec --process`` of an exec with a terminal: ``config``'s (the
    container's ``config.json``: env, cwd, user, capabilities, rlimits…, what ``runc exec`` takes from
    the bundle without ``--process``) with ``command`` as its args, a terminal, and, with ``size``
    ((width, height)), ``consoleSize``, which runc sets on the pty before the process runs."""
    process = copy.deepcopy(config.get("process") or {})
    process["args"] = list(command)
    process["terminal"] = True
    process.pop("consoleSize", None)
    if size is not None:
        width, height = size
        process["consoleSize"] = {"width": width, "height": height}
    return process
