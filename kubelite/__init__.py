"""kubelite: Kubernetes' core loop on etcd and asyncio. The folders are the layers, bottom up
(docs/architecture.md, enforced by import-linter in pyproject.toml):

- ``util/``: plumbing every layer uses (supervised tasks, logs, jitter, ``--listen``, package data);
- ``api/``: the API objects and their pure rules (models, parsing, validation, defaults, schemas);
- ``etcd/``: etcd access (client, raw ops, embedded server, flags, metrics, compaction, encryption);
- ``registry/``: per-kind write rules and admission the store applies, kubectl's printers;
- ``storage/``: the Store (objects in etcd with Kubernetes' semantics), codec, watch, in-memory Store;
- ``client/``: what controllers and agents share (informer, workqueue, reconcile, election, lease, events);
- ``auth/``: certificates, ServiceAccount tokens, RBAC;  ``node/``: the agent's contracts kl and the gateway share;
- ``gateway/``, ``cli/``, ``dns/``, ``ui/``: the user-facing processes; ``images/``, ``testing/``, ``examples/``.

The components live beside this package: ``controllers/`` and ``agent/``.
"""
