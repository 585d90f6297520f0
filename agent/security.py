"""A container's ``SecuritySettings`` from the pod's and the container's ``securityContext``: the one
home of that mapping; the docker and oci runtimes only express the result.

Pure: no I/O. Kubernetes' rules (kubelet ``DetermineEffectiveSecurityContext`` and
``kuberuntime`` ``generateLinuxContainerConfig``, containerd CRI ``WithCapabilities`` /
``WithSeccomp``):

- ``runAsUser``, ``runAsGroup``, ``seccompProfile``: the container's, else the pod's;
  ``supplementalGroups`` and ``fsGroup`` (the pod's) become the process's additional groups;
- capabilities start from containerd's default set; ``add: [ALL]`` takes every capability,
  ``drop: [ALL]`` none, then the named ones are added, then the named ones dropped (names with or
  without the ``CAP_`` prefix, as CRI runtimes accept);
- ``allowPrivilegeEscalation: false`` → no_new_privileges (unset: privileges may be gained);
- ``seccompProfile`` ``RuntimeDefault`` → the runtime's default profile (``DEFAULT_SECCOMP_PROFILE``),
  ``Localhost`` → ``<root-dir>/seccomp/<localhostProfile>`` (the kubelet's ``--seccomp-profile-root``),
  unset or ``Unconfined`` → none (the kubelet's default without ``--seccomp-default``);
- ``privileged``: every capability, no seccomp (the runtimes also give it every device and
  unmask /proc and /sys);
- ``runAsNonRoot`` with ``runAsUser: 0`` is refused (``SecurityError`` → CreateContainerConfigError).
"""

from __future__ import annotations

import posixpath

from kubelite.api.core import Container, Pod

from agent.podconfig.env import ConfigError
from agent.runtime.base import ALL_CAPABILITIES, DEFAULT_CAPABILITIES, SecuritySettings

DEFAULT_SECCOMP_PROFILE = "/usr/share/containers/seccomp.json"
"""RuntimeDefault: the containers/common default profile (Debian ``golang-github-containers-common``, a
dependency of skopeo: the default of podman and CRI-O, derived from Docker's), in Docker's JSON format,
so both runtimes apply the same file."""


class SecurityError(ConfigError):
    """The securityContext cannot be honoured (the kubelet's message): CreateContainerConfigError."""


def _cap_name(name: str) -> str:
    upper = name.upper()
    return upper if upper.startswith("CAP_") or upper == "ALL" else f"CAP_{upper}"


def capabilities(add: list[str] | None, drop: list[str] | None) -> tuple[str, ...]:
    """The capability set for ``capabilities.add``/``drop`` (containerd's order of application)."""
    added = [_cap_name(c) for c in add or []]
    dropped = {_cap_name(c) for c in drop or []}
    caps = list(DEFAULT_CAPABILITIES)
    if "ALL" in added:
        caps = list(ALL_CAPABILITIES)
    if "ALL" in dropped:
        caps = []
    for cap in added:
        if cap != "ALL" and cap not in caps:
            caps.append(cap)
    return tuple(c for c in caps if c not in dropped)


def security_settings(pod: Pod, container: Container, *, seccomp_root: str = "") -> SecuritySettings:
    """The container's settings; ``seccomp_root``: where Localhost profiles live (``<root-dir>/seccomp``).
    SecurityError when they cannot be honoured."""
    pod_context = pod.spec.security_context
    context = container.security_context
    user = context.run_as_user if context and context.run_as_user is not None else (
        pod_context.run_as_user if pod_context else None)
    group = context.run_as_group if context and context.run_as_group is not None else (
        pod_context.run_as_group if pod_context else None)
    non_root = context.run_as_non_root if context and context.run_as_non_root is not None else (
        pod_context.run_as_non_root if pod_context else None)
    if non_root and user == 0:
        raise SecurityError("container's runAsUser breaks non-root policy "
                            f'(pod: "{pod.metadata.name}_{pod.metadata.namespace}", container: {container.name})')
    groups: list[int] = []
    if pod_context is not None:
        for gid in [*(pod_context.supplemental_groups or []),
                    *([pod_context.fs_group] if pod_context.fs_group is not None else [])]:
            if gid not in groups:
                groups.append(gid)
    privileged = bool(context and context.privileged)
    profile = context.seccomp_profile if context and context.seccomp_profile else (
        pod_context.seccomp_profile if pod_context else None)
    seccomp: str | None = None
    if profile is not None and not privileged:
        if profile.type == "RuntimeDefault":
            seccomp = DEFAULT_SECCOMP_PROFILE
        elif profile.type == "Localhost":
            relative = posixpath.normpath(profile.localhost_profile or "")
            if not seccomp_root or relative.startswith(("/", "..")):
                raise SecurityError(f"cannot use the Localhost seccomp profile {profile.localhost_profile!r}: "
                                    "it must be a path below the node's seccomp profile root")
            seccomp = posixpath.join(seccomp_root, relative)
    caps = context.capabilities if context else None
    return SecuritySettings(
        run_as_user=user, run_as_group=group, supplemental_groups=tuple(groups),
        read_only_root=bool(context and context.read_only_root_filesystem), privileged=privileged,
        no_new_privileges=bool(context and context.allow_privilege_escalation is False and not privileged),
        capabilities=ALL_CAPABILITIES if privileged else capabilities(caps.add if caps else None,
                                                                        caps.drop if caps else None),
        seccomp_profile=seccomp,
    )
