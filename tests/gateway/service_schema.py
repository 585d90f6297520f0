"""A field table that also has Service, built at test time from the Python client (a dev dependency).

kubelite does not serve Service yet, so ``k8s_schema.json`` lacks its types; the merge
extensions (``k8s_lists.json``) cover every kind already. These tests show that adding a
kind's types is all it takes for patches and apply to merge it by Kubernetes' schema.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any

import pytest

from kubelite.api import schema_gen
from kubelite.api.schema import k8s_schema
from kubelite.gateway import fieldschema


def _clear_node_caches() -> None:
    for method in (fieldschema.Node.field, fieldschema.Node.item, fieldschema.Node.declares):
        method.cache_clear()  # type: ignore[attr-defined]


@pytest.fixture
def with_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(schema_gen, "ROOTS", {"Service": "V1Service"})
    with contextlib.redirect_stderr(io.StringIO()):  # "no OpenAPI document" notes: integers stay int64
        service = schema_gen.generate({"definitions": {}})
    table: dict[str, Any] = {
        "roots": {**k8s_schema()["roots"], **service["roots"]},
        "types": {**service["types"], **k8s_schema()["types"]},
    }
    monkeypatch.setattr(fieldschema, "k8s_schema", lambda: table)
    monkeypatch.setattr(fieldschema, "root_type", lambda kind: table["roots"].get(kind))
    _clear_node_caches()
    yield
    _clear_node_caches()
