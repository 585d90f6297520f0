"""securityContext → SecuritySettings (agent/security.py), its OCI spec (agent/runtime/oci/spec.py), the
seccomp profile conversion (agent/runtime/seccomp.py) and the API's validation. Pure: no runtime."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.api.core import Pod
from kubelite.api.validation import validate_pod

from agent.runtime.base import ALL_CAPABILITIES, DEFAULT_CAPABILITIES, LABEL_POD_NAME, ContainerSpec, SecuritySettings
from agent.runtime.oci.spec import runtime_spec
from agent.runtime.seccomp import oci_seccomp
from agent.security import DEFAULT_SECCOMP_PROFILE, SecurityError, capabilities, security_settings


def pod(container: dict[str, Any] | None = None, **spec: Any) -> Pod:
    return Pod.model_validate({"metadata": {"name": "p", "namespace": "default"},
                               "spec": {"containers": [{"name": "c", "image": "i", **(container or {})}], **spec}})


def settings(container: dict[str, Any] | None = None, **spec: Any) -> SecuritySettings:
    p = pod(container, **spec)
    return security_settings(p, p.spec.containers[0], seccomp_root="/var/lib/kubelet/seccomp")


def test_no_security_context_is_the_runtimes_default() -> None:
    assert settings() == SecuritySettings()
    assert SecuritySettings().capabilities == DEFAULT_CAPABILITIES and SecuritySettings().seccomp_profile is None


def test_container_fields_win_over_the_pod_and_groups_add_up() -> None:
    got = settings({"securityContext": {"runAsUser": 5, "seccompProfile": {"type": "Unconfined"}}},
                   securityContext={"runAsUser": 1, "runAsGroup": 2, "fsGroup": 3, "supplementalGroups": [4, 3],
                                    "seccompProfile": {"type": "RuntimeDefault"}})
    assert (got.run_as_user, got.run_as_group, got.supplemental_groups, got.seccomp_profile) == (5, 2, (4, 3), None)
    assert settings(securityContext={"seccompProfile": {"type": "RuntimeDefault"}}).seccomp_profile \
        == DEFAULT_SECCOMP_PROFILE
    assert settings({"securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": "a/b.json"}}}
                    ).seccomp_profile == "/var/lib/kubelet/seccomp/a/b.json"


@pytest.mark.parametrize(("add", "drop", "want"), [
    (["NET_ADMIN"], None, (*DEFAULT_CAPABILITIES, "CAP_NET_ADMIN")),
    (None, ["ALL"], ()),
    (["net_bind_service"], ["ALL"], ("CAP_NET_BIND_SERVICE",)),  # drop ALL first, then add
    (["ALL"], ["CHOWN"], tuple(c for c in ALL_CAPABILITIES if c != "CAP_CHOWN")),
    (None, ["CAP_KILL", "MKNOD"], tuple(c for c in DEFAULT_CAPABILITIES if c not in ("CAP_KILL", "CAP_MKNOD"))),
])
def test_capabilities_like_containerd(add: list[str] | None, drop: list[str] | None, want: tuple[str, ...]) -> None:
    assert capabilities(add, drop) == want


@given(st.lists(st.sampled_from([c.removeprefix("CAP_") for c in ALL_CAPABILITIES] + ["ALL"])),
       st.lists(st.sampled_from([c.removeprefix("CAP_") for c in ALL_CAPABILITIES] + ["ALL"])))
def test_a_dropped_capability_is_never_kept(add: list[str], drop: list[str]) -> None:
    caps = capabilities(add, drop)
    assert len(set(caps)) == len(caps) and set(caps) <= set(ALL_CAPABILITIES)
    assert not {f"CAP_{d}" for d in drop} & set(caps)
    assert caps == () or "ALL" not in drop or set(caps) <= {f"CAP_{a}" for a in add}


def test_privilege_escalation_privileged_read_only_and_non_root() -> None:
    assert settings({"securityContext": {"allowPrivilegeEscalation": False}}).no_new_privileges
    assert not settings({"securityContext": {"allowPrivilegeEscalation": True}}).no_new_privileges
    privileged = settings({"securityContext": {"privileged": True, "seccompProfile": {"type": "RuntimeDefault"}}})
    assert privileged.capabilities == ALL_CAPABILITIES and privileged.seccomp_profile is None and privileged.privileged
    assert settings({"securityContext": {"readOnlyRootFilesystem": True}}).read_only_root
    with pytest.raises(SecurityError, match="runAsUser breaks non-root policy"):
        settings({"securityContext": {"runAsUser": 0}}, securityContext={"runAsNonRoot": True})
    with pytest.raises(SecurityError, match="below the node's seccomp profile root"):
        settings({"securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": "../../etc/x"}}})


def test_oci_spec_carries_the_settings() -> None:
    template = {"process": {"args": ["sh"], "capabilities": {"ambient": ["CAP_KILL"]}, "noNewPrivileges": True,
                            "user": {"uid": 7, "gid": 7}},
                "linux": {"maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"], "resources": {}},
                "mounts": [{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "ro"]}]}
    security = SecuritySettings(run_as_user=1000, supplemental_groups=(2000,), read_only_root=True,
                                capabilities=("CAP_NET_BIND_SERVICE",), no_new_privileges=False)
    seccomp = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []}
    spec = ContainerSpec(name="c", image="i", labels={LABEL_POD_NAME: "p"}, security=security)
    config = runtime_spec(template, spec, rootfs="/r", netns_path=None, cgroups_path="/x", seccomp=seccomp)
    process = config["process"]
    assert process["user"] == {"uid": 1000, "gid": 0, "additionalGids": [2000]}
    assert process["capabilities"] == {"bounding": ["CAP_NET_BIND_SERVICE"], "effective": ["CAP_NET_BIND_SERVICE"],
                                       "permitted": ["CAP_NET_BIND_SERVICE"], "inheritable": [], "ambient": []}
    assert process["noNewPrivileges"] is False and config["root"]["readonly"] is True
    assert config["linux"]["seccomp"] == seccomp and config["linux"]["maskedPaths"] == ["/proc/kcore"]
    privileged = ContainerSpec(name="c", image="i", labels={}, security=SecuritySettings(privileged=True))
    config = runtime_spec(template, privileged, rootfs="/r", netns_path=None, cgroups_path="/x", seccomp=seccomp)
    assert "seccomp" not in config["linux"] and config["linux"]["maskedPaths"] == config["linux"]["readonlyPaths"] == []
    assert config["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert "rw" in config["mounts"][0]["options"] and "ro" not in config["mounts"][0]["options"]


PROFILE = {
    "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
    "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
    "syscalls": [
        {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "args": [], "includes": {}, "excludes": {}},
        {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
        {"names": ["sync_file_range2"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["ppc64le"]}},
        {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["open_by_handle_at"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
         "excludes": {"caps": ["CAP_DAC_READ_SEARCH"]}},
        {"names": ["newer"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5.8"}},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
    ],
}


def test_seccomp_profile_rules_apply_by_capability_architecture_and_kernel() -> None:
    got = oci_seccomp(PROFILE, capabilities=DEFAULT_CAPABILITIES, machine="x86_64", kernel="5.4.0-1-amd64")
    assert got["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert (got["defaultAction"], got["defaultErrnoRet"]) == ("SCMP_ACT_ERRNO", 38)
    names = [n for rule in got["syscalls"] for n in rule["names"]]
    assert names == ["read", "write", "arch_prctl", "open_by_handle_at", "personality"]
    assert got["syscalls"][2]["errnoRet"] == 1
    assert got["syscalls"][3]["args"] == [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]
    admin = oci_seccomp(PROFILE, capabilities=ALL_CAPABILITIES, machine="x86_64", kernel="6.1.0")
    assert [n for rule in admin["syscalls"] for n in rule["names"]] == [
        "read", "write", "arch_prctl", "mount", "newer", "personality"]
    with pytest.raises(ValueError, match="architecture riscv64"):
        oci_seccomp(PROFILE, capabilities=(), machine="riscv64", kernel="6.1.0")


def test_the_runtime_default_profile_is_installed_and_converts() -> None:
    import json
    import os

    with open(DEFAULT_SECCOMP_PROFILE) as handle:  # golang-github-containers-common, with skopeo
        profile = json.load(handle)
    got = oci_seccomp(profile, capabilities=DEFAULT_CAPABILITIES, machine=os.uname().machine, kernel=os.uname().release)
    allowed = {n for rule in got["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW" for n in rule["names"]}
    assert {"read", "execve", "clone"} <= allowed and "init_module" not in allowed  # needs CAP_SYS_MODULE


@pytest.mark.parametrize(("container", "pod_context", "field", "reason"), [
    ({"allowPrivilegeEscalation": False, "privileged": True}, None, "spec.containers[0].securityContext", "FieldValueInvalid"),
    ({"allowPrivilegeEscalation": False, "capabilities": {"add": ["CAP_SYS_ADMIN"]}}, None,
     "spec.containers[0].securityContext", "FieldValueInvalid"),
    ({"seccompProfile": {"type": "Strict"}}, None, "spec.containers[0].securityContext.seccompProfile.type",
     "FieldValueNotSupported"),
    ({"seccompProfile": {"type": "Localhost"}}, None,
     "spec.containers[0].securityContext.seccompProfile.localhostProfile", "FieldValueRequired"),
    ({"runAsUser": -1}, None, "spec.containers[0].securityContext.runAsUser", "FieldValueInvalid"),
    ({}, {"fsGroup": -5}, "spec.securityContext.fsGroup", "FieldValueInvalid"),
])
def test_invalid_security_contexts_name_the_field(container: dict[str, Any], pod_context: dict[str, Any] | None,
                                                  field: str, reason: str) -> None:
    causes = validate_pod(pod({"securityContext": container}, **({"securityContext": pod_context} if pod_context else {})))
    assert [(c.field, c.reason) for c in causes] == [(field, reason)]
