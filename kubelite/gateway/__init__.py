"""The gateway: Kubernetes REST API over etcd, so kubectl and kl work against kubelite.

``Gateway(GatewayConfig(...))`` with ``start()``/``stop()``; ``python -m
kubelite.gateway`` runs one. Modules: app (wiring), requestinfo (path →
verb/resource), catalog, discovery, openapi, read/write/delete/subresources/
watchstream/logs (verbs), patch, tables, auth, metrics.
"""

from kubelite.gateway.app import Gateway, GatewayConfig

__all__ = ["Gateway", "GatewayConfig"]
