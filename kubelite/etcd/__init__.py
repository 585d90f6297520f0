"""etcd access: the connection (TLS, auth, failover), raw requests with deadlines, the embedded
etcd, the connection flags, request metrics, history compaction and encryption at rest.
Imports only :mod:`kubelite.api` and :mod:`kubelite.util` (docs/architecture.md)."""
