"""The registry, after kube-apiserver's ``pkg/registry``: the write rules of each kind that the
store applies for every writer (strategy, admission: priority, default storage class, Service
addresses) and kubectl's printers (the Table columns kl and the gateway share).
Below :mod:`kubelite.storage`; imports etcd, api and util (docs/architecture.md)."""
