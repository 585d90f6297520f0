"""The ServiceAccount admission (kubelite.registry.sa_admission), pure: kube's shape of the token volume,
the automount rules, the name, existing mounts, mirror pods, and the missing-account 403."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.api import errors
from kubelite.api.core import Pod
from kubelite.registry.sa_admission import MOUNT_PATH, admit

ACCOUNT: dict[str, Any] = {"metadata": {"name": "default", "namespace": "ns"}}


def pod(**spec: Any) -> Pod:
    return Pod.model_validate({"metadata": {"name": "p", "namespace": "ns"},
                               "spec": {"containers": [{"name": "a", "image": "i"}], **spec}})


def fixed_choice() -> Any:
    letters = itertools.cycle("bcd2x")
    return lambda alphabet: next(letters)


def test_defaults_the_account_and_mounts_kubes_token_volume() -> None:
    got = admit(pod(initContainers=[{"name": "init", "image": "i"}]), ACCOUNT, choice=fixed_choice()).to_dict()
    spec = got["spec"]
    assert spec["serviceAccountName"] == "default"
    assert spec["volumes"] == [{"name": "kube-api-access-bcd2x", "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}]
    mount = {"name": "kube-api-access-bcd2x", "readOnly": True, "mountPath": MOUNT_PATH}
    assert spec["containers"][0]["volumeMounts"] == [mount]
    assert spec["initContainers"][0]["volumeMounts"] == [mount]


def test_random_names_use_kubes_alphabet() -> None:
    name = admit(pod(), ACCOUNT).to_dict()["spec"]["volumes"][0]["name"]
    suffix = name.removeprefix("kube-api-access-")
    assert len(suffix) == 5 and set(suffix) <= set("bcdfghjklmnpqrstvwxz2456789")


@pytest.mark.parametrize(("pod_setting", "account_setting", "mounted"), [
    (None, None, True), (False, None, False), (None, False, False), (True, False, True), (False, True, False)])
def test_automount_pod_setting_wins_over_the_accounts(pod_setting: bool | None, account_setting: bool | None,
                                                      mounted: bool) -> None:
    spec = {} if pod_setting is None else {"automountServiceAccountToken": pod_setting}
    account = {**ACCOUNT, **({} if account_setting is None else {"automountServiceAccountToken": account_setting})}
    got = admit(pod(**spec), account).to_dict()["spec"]
    assert got["serviceAccountName"] == "default"
    assert bool(got.get("volumes")) is mounted
    assert bool(got["containers"][0].get("volumeMounts")) is mounted


def test_an_own_mount_at_the_path_and_an_existing_volume_are_kept() -> None:
    own = {"name": "mine", "mountPath": MOUNT_PATH}
    got = admit(pod(containers=[{"name": "a", "image": "i", "volumeMounts": [own]},
                                {"name": "b", "image": "i"}],
                    volumes=[{"name": "mine", "emptyDir": {}},
                             {"name": "kube-api-access-zzzzz", "projected": {"sources": []}}]), ACCOUNT).to_dict()
    spec = got["spec"]
    assert spec["containers"][0]["volumeMounts"] == [own]
    assert spec["containers"][1]["volumeMounts"][0]["name"] == "kube-api-access-zzzzz"
    assert [v["name"] for v in spec["volumes"]] == ["mine", "kube-api-access-zzzzz"]


def test_image_pull_secrets_come_from_the_account() -> None:
    account = {**ACCOUNT, "imagePullSecrets": [{"name": "reg"}]}
    assert admit(pod(), account).to_dict()["spec"]["imagePullSecrets"] == [{"name": "reg"}]
    assert admit(pod(imagePullSecrets=[{"name": "own"}]), account).to_dict()["spec"]["imagePullSecrets"] == [
        {"name": "own"}]


def test_missing_account_is_403_and_mirror_pods_are_left_alone() -> None:
    with pytest.raises(errors.ApiError) as caught:
        admit(pod(serviceAccountName="robot"), None)
    assert caught.value.code == 403
    assert 'error looking up service account ns/robot: serviceaccount "robot" not found' in str(caught.value.status.message)
    mirror = Pod.model_validate({"metadata": {"name": "m", "namespace": "ns",
                                              "annotations": {"kubernetes.io/config.mirror": "x"}},
                                 "spec": {"containers": [{"name": "a", "image": "i"}]}})
    assert admit(mirror, None) is mirror
    with pytest.raises(errors.ApiError):
        admit(mirror.model_copy(update={"spec": mirror.spec.model_copy(update={"service_account_name": "x"})}), None)


containers = st.lists(st.booleans(), min_size=1, max_size=4)  # True: the container mounts its own volume there


@given(init=st.lists(st.booleans(), max_size=3), main=containers, automount=st.sampled_from([None, True, False]))
def test_every_container_has_one_mount_at_the_path_and_admission_is_idempotent(
        init: list[bool], main: list[bool], automount: bool | None) -> None:
    def make(owns: list[bool], prefix: str) -> list[dict[str, Any]]:
        return [{"name": f"{prefix}{i}", "image": "i",
                 **({"volumeMounts": [{"name": "own", "mountPath": MOUNT_PATH}]} if own else {})}
                for i, own in enumerate(owns)]
    spec: dict[str, Any] = {"containers": make(main, "c"), "initContainers": make(init, "i"),
                            "volumes": [{"name": "own", "emptyDir": {}}]}
    if automount is not None:
        spec["automountServiceAccountToken"] = automount
    once = admit(pod(**spec), ACCOUNT)
    twice = admit(once, ACCOUNT).to_dict()["spec"]
    assert twice == once.to_dict()["spec"]
    added = [v for v in twice["volumes"] if v["name"].startswith("kube-api-access-")]
    lacking = not all(init) or not all(main)
    assert len(added) == (1 if automount is not False and lacking else 0)
    for container in [*twice["containers"], *twice.get("initContainers", [])]:
        paths = [m["mountPath"] for m in container.get("volumeMounts") or []]
        assert paths.count(MOUNT_PATH) == (1 if automount is not False or any(
            m["name"] == "own" for m in container.get("volumeMounts") or []) else 0)


def test_in_place_admits_the_pod_itself_and_otherwise_leaves_it_alone() -> None:
    """The Store's create hands admission its own copy (``in_place``); any other caller's pod is not changed."""
    sent = pod(initContainers=[{"name": "init", "image": "i"}])
    before = sent.to_dict()
    copied = admit(sent, ACCOUNT, choice=fixed_choice())
    assert sent.to_dict() == before and copied is not sent
    changed = admit(sent, ACCOUNT, choice=fixed_choice(), in_place=True)
    assert changed is sent and sent.to_dict() == copied.to_dict() != before

