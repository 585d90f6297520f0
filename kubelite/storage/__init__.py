"""Storage: Kubernetes objects in etcd with Kubernetes' semantics (:mod:`.store`), the codec of
stored values, watches that survive etcd trouble, coalesced point reads, and the in-memory Store
for unit tests. Imports registry, etcd, api and util (docs/architecture.md)."""
