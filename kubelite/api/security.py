"""``securityContext`` of pods and containers (core/v1 PodSecurityContext, SecurityContext) and the
rules kube-apiserver checks on them are in ``kubelite.api.validation`` (kubernetes/pkg/apis/core/validation:
validateSecurityContext, validateSeccompProfileField, ValidatePodSecurityContext).

What the node does with them is the agent's (``agent/security.py``); fields not listed here
(seLinuxOptions, appArmorProfile, windowsOptions, procMount, sysctls...) are kept and reported as
unknown, as elsewhere.
"""

from __future__ import annotations

from kubelite.api.meta import KubeModel

SECCOMP_TYPES = ("RuntimeDefault", "Unconfined", "Localhost")


class Capabilities(KubeModel):
    add: list[str] | None = None
    drop: list[str] | None = None


class SeccompProfile(KubeModel):
    type: str
    localhost_profile: str | None = None


class SecurityContext(KubeModel):
    """A container's; where it and the pod's both set a field, the container's wins (the kubelet's
    ``DetermineEffectiveSecurityContext``)."""

    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    read_only_root_filesystem: bool | None = None
    allow_privilege_escalation: bool | None = None
    privileged: bool | None = None
    capabilities: Capabilities | None = None
    seccomp_profile: SeccompProfile | None = None


class PodSecurityContext(KubeModel):
    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    fs_group: int | None = None
    supplemental_groups: list[int] | None = None
    seccomp_profile: SeccompProfile | None = None
