"""The client machinery controllers and agents share, as client-go: informers, the workqueue,
the reconcile loop, leader election, etcd lease sessions, events, and the objects every component
ensures at start. Imports storage and below (docs/architecture.md)."""
