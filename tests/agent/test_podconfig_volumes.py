"""Volume contents (agent/podconfig/projection.py) and the kubelet's atomic writer, on a temp dir."""

from __future__ import annotations

import base64
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from kubelite.api.core import Pod
from agent.podconfig import atomicwriter
from agent.podconfig.env import Sources
from agent.podconfig.fieldpath import PodRuntimeFacts
from agent.podconfig.projection import FileContent, VolumeError, volume_payload
from agent.podconfig.volumes import check_host_path

FACTS = PodRuntimeFacts(allocatable_cpu_millis=2000, allocatable_memory_bytes=1 << 30)
CMS: dict[str, dict[str, Any]] = {
    "ns/cfg": {"data": {"a.conf": "A", "b.conf": "B"}, "binaryData": {"bin": base64.b64encode(b"\x00\x01").decode()}},
    "ns/frozen": {"data": {"k": "v"}, "immutable": True},
}
SECRETS: dict[str, dict[str, Any]] = {"ns/tls": {"data": {"tls.crt": base64.b64encode(b"CERT").decode(),
                                                           "tls.key": base64.b64encode(b"KEY").decode()}}}
SOURCES = Sources(config_map=lambda ns, n: CMS.get(f"{ns}/{n}"), secret=lambda ns, n: SECRETS.get(f"{ns}/{n}"))


def pod_with(volume: dict[str, Any]) -> Pod:
    return Pod.model_validate({
        "metadata": {"name": "p", "namespace": "ns", "uid": "u", "labels": {"b": "2", "a": "1"}},
        "spec": {"containers": [{"name": "c", "image": "x", "resources": {"limits": {"memory": "32Mi"}}}],
                 "volumes": [{"name": "v", **volume}]},
    })


def payload(volume: dict[str, Any]) -> dict[str, FileContent]:
    p = pod_with(volume)
    assert p.spec.volumes
    return volume_payload(p, p.spec.volumes[0], SOURCES, FACTS).files


def test_config_map_every_key_with_default_mode_0644_and_binary_data() -> None:
    assert payload({"configMap": {"name": "cfg"}}) == {
        "a.conf": FileContent(b"A", 0o644), "b.conf": FileContent(b"B", 0o644), "bin": FileContent(b"\x00\x01", 0o644)}


def test_items_select_and_rename_keys_with_their_own_mode() -> None:
    got = payload({"configMap": {"name": "cfg", "defaultMode": 0o600,
                                 "items": [{"key": "a.conf", "path": "etc/app.conf", "mode": 0o400},
                                           {"key": "b.conf", "path": "b"}]}})
    assert got == {"etc/app.conf": FileContent(b"A", 0o400), "b": FileContent(b"B", 0o600)}


def test_secret_files_are_decoded_with_default_mode() -> None:
    assert payload({"secret": {"secretName": "tls"}}) == {"tls.crt": FileContent(b"CERT", 0o644),
                                                           "tls.key": FileContent(b"KEY", 0o644)}


@pytest.mark.parametrize(("volume", "message"), [
    ({"configMap": {"name": "nope"}}, 'configmap "nope" not found'),
    ({"secret": {"secretName": "nope"}}, 'secret "nope" not found'),
    ({"configMap": {"name": "cfg", "items": [{"key": "zz", "path": "z"}]}},
     "configmap references non-existent config key: zz"),
])
def test_missing_sources_fail_the_mount(volume: dict[str, Any], message: str) -> None:
    with pytest.raises(VolumeError, match=message):
        payload(volume)


def test_optional_missing_sources_give_no_files() -> None:
    assert payload({"configMap": {"name": "nope", "optional": True}}) == {}
    assert payload({"secret": {"secretName": "tls", "optional": True, "items": [{"key": "x", "path": "x"}]}}) == {}


def test_downward_api_and_projected_sources_combine() -> None:
    down = payload({"downwardAPI": {"items": [
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}, "mode": 0o600},
        {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}},
    ]}})
    assert down == {"labels": FileContent(b'a="1"\nb="2"', 0o644), "name": FileContent(b"p", 0o600),
                    "mem": FileContent(b"32", 0o644)}
    p = pod_with({"projected": {"defaultMode": 0o640, "sources": [
        {"configMap": {"name": "cfg", "items": [{"key": "a.conf", "path": "a"}]}},
        {"secret": {"name": "tls", "items": [{"key": "tls.key", "path": "key"}]}},
        {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
        {"serviceAccountToken": {"path": "token"}},
    ]}})
    assert p.spec.volumes
    got = volume_payload(p, p.spec.volumes[0], SOURCES, FACTS)
    assert got.files == {"a": FileContent(b"A", 0o640), "key": FileContent(b"KEY", 0o640),
                         "ns": FileContent(b"ns", 0o640)}
    assert got.notes and "serviceAccountToken" in got.notes[0] and not got.immutable


def test_immutable_source_is_flagged() -> None:
    p = pod_with({"configMap": {"name": "frozen"}})
    assert p.spec.volumes and volume_payload(p, p.spec.volumes[0], SOURCES, FACTS).immutable


def test_atomic_writer_swaps_data_dir_and_user_paths_are_symlinks(tmp_path: Path) -> None:
    target = tmp_path / "vol"
    assert atomicwriter.write(target, {"a": FileContent(b"1", 0o644), "dir/b": FileContent(b"2", 0o600)})
    first = os.readlink(target / "..data")
    assert first.startswith("..") and (target / first).is_dir()
    assert os.readlink(target / "a") == "..data/a" and os.readlink(target / "dir") == "..data/dir"
    assert (target / "a").read_bytes() == b"1" and (target / "dir" / "b").stat().st_mode & 0o777 == 0o600
    held = open(target / "a", "rb")  # a reader of the old version (like a subPath bind) keeps it
    assert not atomicwriter.write(target, {"a": FileContent(b"1", 0o644), "dir/b": FileContent(b"2", 0o600)})
    assert atomicwriter.write(target, {"a": FileContent(b"new", 0o644)})
    second = os.readlink(target / "..data")
    assert second != first and not (target / first).exists()
    assert (target / "a").read_bytes() == b"new" and not (target / "dir").exists()
    assert held.read() == b"1"
    held.close()
    assert sorted(p.name for p in target.iterdir()) == sorted([second, "..data", "a"])


@pytest.mark.parametrize("bad", ["/abs", "../up", "a/../../b", "..data"])
def test_atomic_writer_refuses_paths_outside_the_volume(tmp_path: Path, bad: str) -> None:
    with pytest.raises(atomicwriter.PayloadPathError):
        atomicwriter.write(tmp_path / "v", {bad: FileContent(b"", 0o644)})


def test_host_path_type_checks(tmp_path: Path) -> None:
    check_host_path(str(tmp_path / "made"), "DirectoryOrCreate")
    assert (tmp_path / "made").is_dir()
    check_host_path(str(tmp_path / "f"), "FileOrCreate")
    assert (tmp_path / "f").is_file()
    check_host_path(str(tmp_path / "f"), "File")
    check_host_path(str(tmp_path / "anything"), "")
    with pytest.raises(VolumeError, match="is not a directory"):
        check_host_path(str(tmp_path / "f"), "Directory")
    with pytest.raises(VolumeError, match="is not a file"):
        check_host_path(str(tmp_path / "missing"), "File")
    with pytest.raises(VolumeError, match="is not a socket file"):
        check_host_path(str(tmp_path / "f"), "Socket")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "s"))
        check_host_path(str(tmp_path / "s"), "Socket")
    finally:
        sock.close()


async def test_empty_dir_disk_usage_counts_files_but_not_tmpfs(tmp_path: Path) -> None:
    from agent.podconfig.volumes import VolumeManager

    manager = VolumeManager(tmp_path, sources=SOURCES)
    p = Pod.model_validate({"metadata": {"name": "p", "namespace": "ns", "uid": "u1"}, "spec": {
        "containers": [{"name": "c", "image": "x"}], "volumes": [{"name": "scratch", "emptyDir": {}}]}})
    volumes = await manager.setup(p, FACTS)
    assert await manager.disk_usage("u1") == 0
    (Path(volumes["scratch"].path) / "blob").write_bytes(b"x" * (256 << 10))
    assert await manager.disk_usage("u1") >= 256 << 10
    await manager.cleanup("u1")
    assert not (tmp_path / "pods" / "u1").exists()


async def test_volumes_follow_updates_but_immutable_sources_are_never_reread(tmp_path: Path) -> None:
    from agent.podconfig.volumes import VolumeManager

    objects: dict[str, dict[str, Any]] = {"ns/live": {"data": {"k": "1"}}, "ns/frozen": {"data": {"k": "1"},
                                                                                         "immutable": True}}
    sources = Sources(config_map=lambda ns, n: objects.get(f"{ns}/{n}"), secret=lambda ns, n: None)
    manager = VolumeManager(tmp_path, sources=sources)
    p = Pod.model_validate({"metadata": {"name": "p", "namespace": "ns", "uid": "u2"}, "spec": {
        "containers": [{"name": "c", "image": "x"}],
        "volumes": [{"name": "live", "configMap": {"name": "live"}}, {"name": "frozen", "configMap": {"name": "frozen"}}]}})
    volumes = await manager.setup(p, FACTS)
    objects["ns/live"] = {"data": {"k": "2"}}
    objects["ns/frozen"] = {"data": {"k": "2"}, "immutable": True}  # (a delete and re-create: kube does not re-read)
    volumes = await manager.setup(p, FACTS)
    assert (Path(volumes["live"].path) / "k").read_text() == "2"
    assert (Path(volumes["frozen"].path) / "k").read_text() == "1"


async def test_a_deleted_source_leaves_the_last_contents(tmp_path: Path) -> None:
    from agent.podconfig.volumes import MountError, VolumeManager

    objects: dict[str, dict[str, Any]] = {"ns/cfg": {"data": {"k": "1"}}}
    sources = Sources(config_map=lambda ns, n: objects.get(f"{ns}/{n}"), secret=lambda ns, n: None)
    manager = VolumeManager(tmp_path, sources=sources)
    p = Pod.model_validate({"metadata": {"name": "p", "namespace": "ns", "uid": "u3"}, "spec": {
        "containers": [{"name": "c", "image": "x"}], "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}]}})
    volumes = await manager.setup(p, FACTS)
    del objects["ns/cfg"]
    assert (Path((await manager.setup(p, FACTS))["cfg"].path) / "k").read_text() == "1"
    other = p.model_copy(deep=True)
    other.metadata.uid = "u4"  # a pod that never had it cannot start
    with pytest.raises(MountError, match='configmap "cfg" not found'):
        await manager.setup(other, FACTS)
    assert volumes


def test_empty_dir_limit_rule() -> None:
    from agent.eviction import empty_dir_over_limit

    p = Pod.model_validate({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}], "volumes": [
        {"name": "disk", "emptyDir": {"sizeLimit": "1Mi"}}, {"name": "mem", "emptyDir": {"medium": "Memory",
                                                                                         "sizeLimit": "1Mi"}},
        {"name": "free", "emptyDir": {}}]}})
    assert empty_dir_over_limit(p, {"disk": 1 << 20, "mem": 5 << 20, "free": 9 << 30}) is None
    assert empty_dir_over_limit(p, {"disk": (1 << 20) + 1}) == 'Usage of EmptyDir volume "disk" exceeds the limit "1Mi". '


async def test_a_sub_path_file_whose_source_appeared_after_set_up_is_mounted_as_the_file(tmp_path: Path) -> None:
    """CI once saw /etc/settings/color as an empty directory: the volume was set up while the optional
    ConfigMap was missing, the ConfigMap arrived before the env was resolved, and the missing subPath
    was made as a directory that the atomic writer then never replaced with the file."""
    from agent.podconfig.volumes import VolumeManager

    objects: dict[str, dict[str, Any]] = {}
    sources = Sources(config_map=lambda ns, n: objects.get(f"{ns}/{n}"), secret=lambda ns, n: None)
    manager = VolumeManager(tmp_path, sources=sources)
    p = Pod.model_validate({"metadata": {"name": "p", "namespace": "ns", "uid": "u5"}, "spec": {
        "containers": [{"name": "c", "image": "x", "volumeMounts": [
            {"name": "settings", "mountPath": "/etc/color", "subPath": "color"},
            {"name": "settings", "mountPath": "/etc/settings"}]}],
        "volumes": [{"name": "settings", "configMap": {"name": "settings", "optional": True}}]}})
    volumes = await manager.setup(p, FACTS)
    assert not os.listdir(Path(volumes["settings"].path) / atomicwriter.DATA_DIR)
    objects["ns/settings"] = {"data": {"color": "blue"}}

    await manager.refresh_sub_paths(p, p.spec.containers[0], volumes, FACTS)
    mounts = {m.target: m for m in manager.mounts(p, p.spec.containers[0], volumes, {})}
    assert Path(mounts["/etc/color"].source).read_text() == "blue"
    assert os.readlink(Path(volumes["settings"].path) / "color") == "..data/color"
