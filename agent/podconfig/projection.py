"""What files a configMap, secret, downwardAPI or projected volume holds (pure).

Kubernetes sources: ``pkg/volume/configmap`` and ``pkg/volume/secret`` (``MakePayload``: every
key, or only ``items``, each with its ``mode`` or the volume's ``defaultMode``, 0644 by default),
``pkg/volume/downwardapi`` (``CollectData``), ``pkg/volume/projected``. A missing non-optional
object or item key is an error (the kubelet's ``FailedMount``; the pod stays ContainerCreating);
an optional missing object gives no files. ``serviceAccountToken`` projections take the tokens the
caller fetched (``tokens``, by projection path: :mod:`agent.podconfig.tokens`); without them (the
sim runtime) they are skipped and noted in :attr:`Payload.notes`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubelite.api.core import Pod
from kubelite.api.podconfig import DEFAULT_VOLUME_MODE, DownwardAPIVolumeFile, KeyToPath, Volume

from agent.podconfig.env import Sources
from agent.podconfig.fieldpath import FieldPathError, PodRuntimeFacts, field_value, resource_value


class VolumeError(Exception):
    """The volume cannot be set up (message as the kubelet's MountVolume.SetUp error)."""


@dataclass(frozen=True)
class FileContent:
    data: bytes
    mode: int


@dataclass
class Payload:
    files: dict[str, FileContent] = field(default_factory=dict)  # relative path → content
    immutable: bool = False  # every source object is immutable: never re-read
    notes: list[str] = field(default_factory=list)


def is_projected_kind(volume: Volume) -> bool:
    """Volumes whose files the agent writes (atomic writer) and keeps up to date."""
    return any(x is not None for x in (volume.config_map, volume.secret, volume.downward_api, volume.projected))


def _key_payload(values: Mapping[str, bytes], items: list[KeyToPath] | None, default_mode: int, optional: bool,
                 missing: str) -> dict[str, FileContent]:
    if not items:
        return {k: FileContent(v, default_mode) for k, v in values.items()}
    files = {}
    for item in items:
        if item.key not in values:
            if optional:
                continue
            raise VolumeError(f"{missing}: {item.key}")
        files[item.path] = FileContent(values[item.key], item.mode if item.mode is not None else default_mode)
    return files


def _config_map_bytes(doc: Mapping[str, Any]) -> dict[str, bytes]:
    values = {k: str(v).encode() for k, v in (doc.get("data") or {}).items()}
    values.update({k: base64.b64decode(v or "") for k, v in (doc.get("binaryData") or {}).items()})
    return values


def _secret_bytes(doc: Mapping[str, Any]) -> dict[str, bytes]:
    values = {k: base64.b64decode(v or "") for k, v in (doc.get("data") or {}).items()}
    values.update({k: str(v).encode() for k, v in (doc.get("stringData") or {}).items()})
    return values


def _downward(pod: Pod, items: list[DownwardAPIVolumeFile] | None, default_mode: int,
              facts: PodRuntimeFacts) -> dict[str, FileContent]:
    files = {}
    for item in items or []:
        try:
            if item.field_ref is not None:
                text = field_value(pod, item.field_ref, facts)
            elif item.resource_field_ref is not None:
                text = resource_value(pod, None, item.resource_field_ref, facts)
            else:
                continue
        except FieldPathError as exc:
            raise VolumeError(str(exc)) from exc
        files[item.path] = FileContent(text.encode(), item.mode if item.mode is not None else default_mode)
    return files


def volume_payload(pod: Pod, volume: Volume, sources: Sources, facts: PodRuntimeFacts,
                   tokens: Mapping[str, bytes] | None = None) -> Payload:
    """The files of one configMap/secret/downwardAPI/projected volume; VolumeError when it cannot be made.
    ``tokens``: the service account tokens of the projected volume's ``serviceAccountToken`` paths."""
    namespace = pod.namespace or "default"
    if volume.config_map is not None:
        src = volume.config_map
        mode = src.default_mode if src.default_mode is not None else DEFAULT_VOLUME_MODE
        doc = sources.config_map(namespace, src.name or "")
        if doc is None:
            if src.optional:
                return Payload()
            raise VolumeError(f'configmap "{src.name}" not found')
        return Payload(_key_payload(_config_map_bytes(doc), src.items, mode, bool(src.optional),
                                    "configmap references non-existent config key"), immutable=bool(doc.get("immutable")))
    if volume.secret is not None:
        sec = volume.secret
        mode = sec.default_mode if sec.default_mode is not None else DEFAULT_VOLUME_MODE
        doc = sources.secret(namespace, sec.secret_name or "")
        if doc is None:
            if sec.optional:
                return Payload()
            raise VolumeError(f'secret "{sec.secret_name}" not found')
        return Payload(_key_payload(_secret_bytes(doc), sec.items, mode, bool(sec.optional),
                                    "references non-existent secret key"), immutable=bool(doc.get("immutable")))
    if volume.downward_api is not None:
        down = volume.downward_api
        mode = down.default_mode if down.default_mode is not None else DEFAULT_VOLUME_MODE
        return Payload(_downward(pod, down.items, mode, facts))
    if volume.projected is not None:
        return _projected(pod, volume, sources, facts, tokens)
    raise VolumeError(f"volume {volume.name!r} has no file contents")


def token_paths(volume: Volume) -> list[str]:
    """The paths of a projected volume's ``serviceAccountToken`` sources."""
    if volume.projected is None:
        return []
    return [s.service_account_token.path for s in volume.projected.sources or [] if s.service_account_token is not None]


def _projected(pod: Pod, volume: Volume, sources: Sources, facts: PodRuntimeFacts,
               tokens: Mapping[str, bytes] | None) -> Payload:
    assert volume.projected is not None
    namespace = pod.namespace or "default"
    mode = volume.projected.default_mode if volume.projected.default_mode is not None else DEFAULT_VOLUME_MODE
    payload = Payload(immutable=True)
    for source in volume.projected.sources or []:
        if source.config_map is not None:
            cm = source.config_map
            doc = sources.config_map(namespace, cm.name or "")
            if doc is None:
                if cm.optional:
                    continue
                raise VolumeError(f'configmap "{cm.name}" not found')
            payload.immutable &= bool(doc.get("immutable"))
            payload.files.update(_key_payload(_config_map_bytes(doc), cm.items, mode, bool(cm.optional),
                                              "configmap references non-existent config key"))
        elif source.secret is not None:
            sec = source.secret
            doc = sources.secret(namespace, sec.name or "")
            if doc is None:
                if sec.optional:
                    continue
                raise VolumeError(f'secret "{sec.name}" not found')
            payload.immutable &= bool(doc.get("immutable"))
            payload.files.update(_key_payload(_secret_bytes(doc), sec.items, mode, bool(sec.optional),
                                              "references non-existent secret key"))
        elif source.downward_api is not None:
            payload.immutable = False
            payload.files.update(_downward(pod, source.downward_api.items, mode, facts))
        elif source.service_account_token is not None:
            payload.immutable = False  # refreshed before it expires
            path = source.service_account_token.path
            if tokens is None or path not in tokens:
                payload.notes.append(f"serviceAccountToken {path!r} skipped: no token fetched")
                continue
            payload.files[path] = FileContent(tokens[path], mode)
    return payload
