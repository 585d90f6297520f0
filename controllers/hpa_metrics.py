"""Where the HPA controller reads pod usage: the metrics API (``metrics.k8s.io/v1beta1``), as kube's does.

kube-controller-manager's HPA reads PodMetrics through kube-apiserver; here
through the gateway (``--metrics-api-server``, with ``--metrics-api-token-file``
when the gateway wants a token, ``--metrics-api-ca-file`` for HTTPS), which
fans the request out to the agents (``kubelite.gateway.metrics_api``). aiohttp,
the project's HTTP client. ``PodUsage`` is the controller's view: per pod,
the sum over its containers (CPU in millicores, memory in bytes), the sample
time and window. aiohttp (~10 MB of RSS) is imported by the first request, not
with this module: a controller-manager without HorizontalPodAutoscalers never
asks (issue 12's idle footprint).
"""

from __future__ import annotations

import math
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from kubelite.api.quantity import parse_quantity
from kubelite.util import clock

if TYPE_CHECKING:
    import aiohttp

_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m(?!s))?(?:([\d.]+)(ms|s))?$")


@dataclass(frozen=True)
class PodUsage:
    cpu_millis: int
    memory_bytes: int
    at: float  # epoch seconds of the sample
    window: float  # seconds


class MetricsSource(Protocol):
    async def pod_usage(self, namespace: str, selector: str) -> dict[str, PodUsage]:
        """Pod name → usage, for the pods of ``namespace`` that ``selector`` selects; raises on failure."""
        ...

    async def close(self) -> None: ...


class MetricsUnavailable(Exception):
    """The metrics API could not be asked (the message says why)."""


def parse_duration(text: str) -> float:
    """Go's ``time.Duration`` text (``10.012s``, ``1m0.5s``, ``500ms``) in seconds; 0 when unreadable."""
    match = _DURATION.match(text or "")
    if not match or not text:
        return 0.0
    hours, minutes, number, unit = match.groups()
    seconds = float(number or 0) / (1000 if unit == "ms" else 1)
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + seconds


def usage_of(doc: dict[str, object]) -> PodUsage:
    """A PodMetrics document as one PodUsage (its containers summed)."""
    cpu = memory = 0
    containers = doc.get("containers")
    for container in containers if isinstance(containers, list) else []:
        usage = container.get("usage") or {}
        cpu += math.ceil(parse_quantity(usage.get("cpu", "0")) * 1000)
        memory += math.ceil(parse_quantity(usage.get("memory", "0")))
    stamp = str(doc.get("timestamp") or "")
    at = clock.parse_time(stamp).timestamp() if stamp else 0.0
    return PodUsage(cpu, memory, at, parse_duration(str(doc.get("window") or "")))


class MetricsApiClient:
    """The metrics API of a gateway, over HTTP(S)."""

    def __init__(self, server: str, *, token_file: Path | None = None, ca_file: Path | None = None,
                 timeout: float = 10.0) -> None:
        self.server = server.rstrip("/")
        self.token_file = token_file
        self.ca_file = ca_file
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def pod_usage(self, namespace: str, selector: str) -> dict[str, PodUsage]:
        import aiohttp  # here, not at the top: see the module docstring

        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        headers = {}
        if self.token_file is not None:
            headers["Authorization"] = f"Bearer {self.token_file.read_text().strip()}"
        ssl_context: ssl.SSLContext | bool = (ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file
                                              else True)
        url = f"{self.server}/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods"
        try:
            async with self._session.get(url, params={"labelSelector": selector}, headers=headers,
                                         ssl=ssl_context) as answer:
                if answer.status != 200:
                    raise MetricsUnavailable(f"the metrics API answered {answer.status}: {(await answer.text())[:200]}")
                doc = await answer.json()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise MetricsUnavailable(f"unable to fetch metrics from the metrics API at {self.server}: {exc}") from exc
        return {item["metadata"]["name"]: usage_of(item) for item in doc.get("items") or []}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class NoMetricsApi:
    """The controller-manager was given no ``--metrics-api-server``: every HPA says so."""

    async def pod_usage(self, namespace: str, selector: str) -> dict[str, PodUsage]:
        raise MetricsUnavailable("no metrics API is configured (controller-manager --metrics-api-server)")

    async def close(self) -> None:
        return None
