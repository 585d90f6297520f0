"""The gateway as a chaos test talks to it: :class:`Api` makes HTTP calls that never raise on
HTTP errors (a fault makes many of them fail; the test decides what that means), and
:func:`deployment_doc` is the Deployment the built-in workloads use.

aiohttp (already kubelite's HTTP library) rather than the official client: the calls must
return (status, document) during outages instead of raising, with a deadline each.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable
from typing import Any

import aiohttp

from kubelite.testing.waiting import wait_for

NAMESPACE = "default"



def deployment_doc(name: str, replicas: int, version: str = "v1", *, max_surge: str | int = "25%",
                   max_unavailable: str | int = "25%", min_ready_seconds: int = 0) -> dict[str, Any]:
    """A Deployment of sleepers (real with docker agents); ``version`` is an env var: change it to roll."""
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas, "selector": {"matchLabels": {"app": name}}, "minReadySeconds": min_ready_seconds,
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
                    "name": "app", "image": "kubelite/demo:latest", "imagePullPolicy": "Never",
                    "command": ["sleep", "3600"], "env": [{"name": "VERSION", "value": version}]}]},
            },
        },
    }


DEPLOYMENTS_PATH = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments"
LEASES_PATH = f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases"
MERGE_PATCH = "application/merge-patch+json"


class Api:
    """Gateway calls that never raise on HTTP errors: (status, document); status 0 = no answer."""

    def __init__(self, url: str, *, token: str | None = None, ca_file: str | None = None,
                 timeout: float = 10.0) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.ssl: Any = None
        if ca_file:
            import ssl
            self.ssl = ssl.create_default_context(cafile=ca_file)
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.session: aiohttp.ClientSession | None = None
        self.server_errors: list[tuple[int, str, str]] = []  # 5xx seen: (code, method path, message)

    async def __aenter__(self) -> Api:
        self.session = aiohttp.ClientSession(self.url, timeout=self.timeout, headers=self.headers,
                                             connector=aiohttp.TCPConnector(limit=200, ssl=self.ssl))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.session is not None
        await self.session.close()

    async def call(self, method: str, path: str, body: Any = None, *,
                   content_type: str = "application/json", timeout: float | None = None) -> tuple[int, Any]:
        """``timeout``: this call's deadline in seconds (default: the client's)."""
        assert self.session is not None
        kwargs: dict[str, Any] = {}
        if body is not None:
            import json
            kwargs = {"data": json.dumps(body), "headers": {"Content-Type": content_type}}
        if timeout is not None:
            kwargs["timeout"] = aiohttp.ClientTimeout(total=timeout)
        try:
            async with self.session.request(method, path, **kwargs) as response:
                try:
                    doc = await response.json(content_type=None)
                except ValueError:
                    doc = None
                if response.status >= 500:
                    message = doc.get("message", "") if isinstance(doc, dict) else ""
                    self.server_errors.append((response.status, f"{method} {path}", message))
                return response.status, doc
        except (aiohttp.ClientError, TimeoutError, ConnectionError):
            return 0, None

    async def create_deployment(self, name: str, replicas: int, version: str = "v1", **kw: Any) -> tuple[int, Any]:
        return await self.call("POST", DEPLOYMENTS_PATH, deployment_doc(name, replicas, version, **kw))

    async def scale(self, name: str, replicas: int, *, timeout: float | None = None) -> tuple[int, Any]:
        return await self.call("PATCH", f"{DEPLOYMENTS_PATH}/{name}", {"spec": {"replicas": replicas}},
                               content_type=MERGE_PATCH, timeout=timeout)

    async def roll(self, name: str, version: str) -> tuple[int, Any]:
        patch = {"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "kubelite/demo:latest", "imagePullPolicy": "Never", "command": ["sleep", "3600"],
             "env": [{"name": "VERSION", "value": version}]}]}}}}
        return await self.call("PATCH", f"{DEPLOYMENTS_PATH}/{name}", patch, content_type=MERGE_PATCH)

    async def until_ok(self, call: Callable[[], Any], timeout: float = 30.0, *, what: str) -> Any:
        """Repeat a write until the gateway acknowledges it (2xx). A 409 AlreadyExists counts for a
        create whose earlier attempt landed without an answer."""
        last: tuple[int, Any] = (0, None)

        async def attempt() -> bool:
            nonlocal last
            last = await call()
            reason = last[1].get("reason") if isinstance(last[1], dict) else None
            return 200 <= last[0] < 300 or reason == "AlreadyExists"
        try:
            await wait_for(attempt, timeout, 0.1)
        except AssertionError:
            raise AssertionError(f"{what} not acknowledged in {timeout}s: last answer {last}") from None
        return last[1]
