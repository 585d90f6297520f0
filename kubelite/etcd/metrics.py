"""kube-apiserver's ``etcd_request_duration_seconds{operation,type}`` for any kubelite process.

Every etcd txn/range goes through :mod:`kubelite.etcd.ops`, which reports ``(what, seconds)`` to its
client's ``request_observer``; ``what`` reads "update /registry/pods/default/web", "list
/registry/pods/", "get 3 keys": its first word is the operation, the ``/registry/<plural>`` segment
the type ("" when the call names no resource). Each process keeps the histogram in its own registry.
A client whose encryption configuration follows its file also reports kube's reload metrics there
(:class:`kubelite.etcd.encryption_reload.ReloadCollector`).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram

from kubelite.etcd.encryption_reload import ReloadCollector, ReloadingEncryption
from kubelite.etcd.client import EtcdClient

_BUCKETS = (0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60)


def operation_and_type(what: str) -> tuple[str, str]:
    operation, _, rest = what.partition(" ")
    marker = "/registry/"
    kind = rest.split(marker, 1)[1].split("/", 1)[0] if marker in rest else ""
    return operation, kind


def observe_etcd_requests(client: EtcdClient, registry: CollectorRegistry) -> None:
    """Record ``client``'s etcd request latency in ``registry``."""
    histogram = Histogram("etcd_request_duration_seconds", "Etcd request latency in seconds for each operation "
                          "and object type.", ["operation", "type"], buckets=_BUCKETS, registry=registry)

    def observe(what: str, seconds: float) -> None:
        histogram.labels(*operation_and_type(what)).observe(seconds)

    client.request_observer = observe
    if isinstance(client.config.encryption, ReloadingEncryption):
        registry.register(ReloadCollector(client.config.encryption))
