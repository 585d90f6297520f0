"""The suite's oracle for what lies in etcd: every stored object is one kube-apiserver accepts strictly.

Whatever wrote it (the gateway for a user, an agent, a controller, the event
recorder, the leader election), each value under ``/registry/<plural>/`` must
be the Kubernetes JSON of a served kind: no field Kubernetes lacks (which is
how a field stored under its Python name shows: ``status.daemon_endpoints``),
no value its decoder refuses (types, int32/int64 ranges), every validation
rule met, no resourceVersion inside. Used by the ``etcd`` fixture's teardown
(so every test using it checks what it left) and by the end-to-end test of a
whole ``kl up`` cluster.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from kubelite.api.resources import ALL_RESOURCES, REGISTRY_ROOT
from kubelite.testing.existing import etcd_access_of
from kubelite.api.schema import check_document
from kubelite.api.validation import validate_object
from kubelite.etcd.client import EtcdClient, EtcdConfig, connect
from kubelite.etcd.ops import prefix_end, range_

_BY_PLURAL = {res.plural: res for res in ALL_RESOURCES}


def problems_of(key: str, value: bytes) -> list[str]:
    """What is wrong with one stored value (empty: it is valid Kubernetes JSON of its kind)."""
    plural = key.removeprefix(f"{REGISTRY_ROOT}/").split("/", 1)[0]
    res = _BY_PLURAL.get(plural)
    if res is None:
        return []  # not an object of a served kind (kubelite's own bookkeeping keys)
    if value.startswith(b"k8s:enc:"):
        return []  # encrypted at rest: the store validated it before encrypting
    try:
        doc: Any = json.loads(value)
    except ValueError as exc:
        return [f"{key}: not JSON ({exc})"]
    if not isinstance(doc, dict):
        return [f"{key}: not a JSON object"]
    found = []
    if (doc.get("apiVersion"), doc.get("kind")) != (res.api_version, res.kind):
        found.append(f"{key}: apiVersion/kind {doc.get('apiVersion')}/{doc.get('kind')}, not {res.api_version}/{res.kind}")
    if "resourceVersion" in (doc.get("metadata") or {}):
        found.append(f"{key}: metadata.resourceVersion is stored (it is etcd's mod_revision)")
    findings = check_document(doc, res.kind)
    found += [f'{key}: unknown field "{path}"' for path in findings.unknown]
    found += [f"{key}: {c.field}: {c.message}" for c in findings.causes]
    try:
        obj = res.model.model_validate_json(value, strict=True, by_alias=True, by_name=False)
    except ValidationError as exc:
        return [*found, f"{key}: {exc}"]
    found += [f"{key}: {c.field}: {c.message}" for c in validate_object(obj)]
    return found


async def strict_problems(client: EtcdClient) -> list[str]:
    """Every problem of every object stored under ``/registry/``."""
    prefix = f"{REGISTRY_ROOT}/"
    response = await range_(client, prefix, range_end=prefix_end(prefix), what="read every object for the check")
    return [p for kv in response.kvs for p in problems_of(kv.key.decode(), kv.value)]


async def strict_problems_at(endpoint: str) -> list[str]:
    """:func:`strict_problems` of the etcd at ``host:port``."""
    return await strict_problems_with(EtcdConfig(endpoints=(endpoint,), timeout=5.0))


async def strict_problems_of_up(up_state: Mapping[str, Any]) -> list[str]:
    """:func:`strict_problems` of a ``kl up``'s etcd (its ``up.json``: endpoints and client certificate)."""
    return await strict_problems_with(etcd_access_of(up_state).config())


async def strict_problems_with(config: EtcdConfig) -> list[str]:
    client = await connect(config)
    try:
        return await strict_problems(client)
    finally:
        await client.close()
