"""A watch event decodes etcd's previous value of an update only when its ``old_object`` is read:
informers never read it (they replace what their cache holds), so each update costs them one decode,
not two (kubelite.storage.watch.to_event)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from kubelite.api.resources import PODS
from kubelite.storage import watch


def pod_bytes(labels: dict[str, str]) -> bytes:
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "p", "namespace": "default", "uid": "u", "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "i"}]}}).encode()


def raw_event(kind: str, value: bytes, version: int, prev: bytes | None) -> Any:
    key = b"/registry/pods/default/p"
    kv = SimpleNamespace(key=key, value=value, mod_revision=7, version=version)
    prev_kv = SimpleNamespace(key=key, value=prev, mod_revision=5, version=max(version - 1, 1)) if prev is not None else None
    return SimpleNamespace(kind=kind, kv=kv, prev_kv=prev_kv)


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    seen: list[bytes] = []
    real = watch.decode

    def counting(res: Any, value: bytes, *args: Any, **kwargs: Any) -> Any:
        seen.append(value)
        return real(res, value, *args, **kwargs)

    monkeypatch.setattr(watch, "decode", counting)
    return seen


def test_an_update_decodes_its_previous_value_only_when_asked(decodes: list[bytes]) -> None:
    event = watch.to_event(PODS, raw_event("PUT", pod_bytes({"v": "2"}), 2, pod_bytes({"v": "1"})))
    assert event.type == "MODIFIED" and event.revision == 7
    assert event.object.metadata.labels == {"v": "2"} and event.object.metadata.resource_version == "7"
    assert decodes == [pod_bytes({"v": "2"})]
    assert event.old_object.metadata.labels == {"v": "1"}
    assert event.old_object.metadata.resource_version == "5"
    assert event.old_object is event.old_object  # decoded once
    assert len(decodes) == 2


def test_a_create_has_no_old_object_and_a_delete_its_last_state(decodes: list[bytes]) -> None:
    created = watch.to_event(PODS, raw_event("PUT", pod_bytes({"v": "1"}), 1, None))
    assert (created.type, created.old_object) == ("ADDED", None)
    deleted = watch.to_event(PODS, raw_event("DELETE", b"", 0, pod_bytes({"v": "3"})))
    assert deleted.type == "DELETED"
    assert deleted.object.metadata.labels == {"v": "3"} and deleted.object.metadata.resource_version == "7"
    assert deleted.old_object.metadata.resource_version == "5"
    assert len(decodes) == 2
