"""Small test utilities. Tests wait for conditions with a deadline; they never
sleep and hope."""

from __future__ import annotations

from typing import Any

from kubelite.api import parse_object
from kubelite.api.errors import ApiError, StatusCause
from kubelite.testing.waiting import wait_for  # noqa: F401 - the tests' one waiting helper lives there


def refusal_causes(doc: dict[str, Any]) -> list[StatusCause]:
    """What a write of ``doc`` is refused for (decoder-level types and int ranges, and semantic
    causes); ``[]`` when it is accepted. A refusal other than 422 fails the test."""
    try:
        parse_object(doc)
    except ApiError as exc:
        assert exc.code == 422, exc.status
        return list(exc.status.details.causes or []) if exc.status.details else []
    return []


def without_nulls(value: Any) -> Any:
    """Kubernetes drops nulls (``lastProbeTime: null``) on the way in, so a round trip does too."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


async def etcd_requests(etcd: Any, method: str) -> float:
    """How many ``method`` requests (``Range``, ``Txn``, ``LeaseKeepAlive``…) a real etcd has answered
    (its gRPC server's ``grpc_server_handled_total``, from its ``/metrics``); ``etcd``: an EmbeddedEtcd."""
    import asyncio
    import urllib.request

    def read() -> float:
        with urllib.request.urlopen(f"{etcd.client_url}/metrics", timeout=5) as response:
            text = response.read().decode()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("grpc_server_handled_total{") and f'grpc_method="{method}"' in line)
    return await asyncio.to_thread(read)
