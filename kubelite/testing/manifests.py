"""The manifests the Service tests and benchmarks apply: a web Deployment answering HTTP on 8080 with
its pod's hostname, a Service in front of it, and a client pod to send requests from.

Shapes: each function returns one object as a dict; :func:`as_yaml` joins objects into the multi-
document YAML ``kubectl apply -f -`` reads. The image is the local ``kubelite/demo:latest`` (busybox:
``httpd``, ``hostname``), never pulled.
"""

from __future__ import annotations

from typing import Any

import yaml

IMAGE = "kubelite/demo:latest"
WEB_PORT = 8080
# busybox's own httpd serves one file naming the pod: which backend answered is in the response
WEB_COMMAND = ["sh", "-c", "mkdir -p /tmp/www && hostname > /tmp/www/index.html && "
               f"exec httpd -f -p {WEB_PORT} -h /tmp/www"]


def web_deployment(replicas: int, *, port_name: str | None = None) -> dict[str, Any]:
    """Deployment ``web`` (label ``app: web``), ready once its httpd answers ``/``."""
    port: dict[str, Any] = {"containerPort": WEB_PORT, **({"name": port_name} if port_name else {})}
    container = {"name": "web", "image": IMAGE, "imagePullPolicy": "Never", "command": WEB_COMMAND,
                 "ports": [port], "readinessProbe": {"httpGet": {"path": "/", "port": WEB_PORT}, "periodSeconds": 1}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [container]}}}}


def service(name: str, *, selector: str = "web", target_port: int | str | None = WEB_PORT, port: int = 80,
            **spec: Any) -> dict[str, Any]:
    """Service ``name`` selecting ``app: <selector>``, ``port`` → ``target_port`` (None: the same port);
    ``spec`` adds fields (``type``, ``sessionAffinity``...)."""
    ports: dict[str, Any] = {"port": port, **({"targetPort": target_port} if target_port is not None else {})}
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": selector}, "ports": [ports], **spec}}


def client_pod(*, termination_grace_period: int | None = None) -> dict[str, Any]:
    """Pod ``client``: sleeps, for requests sent from inside its network namespace."""
    spec: dict[str, Any] = {"containers": [{"name": "client", "image": IMAGE, "imagePullPolicy": "Never",
                                            "command": ["sleep", "100000"]}]}
    if termination_grace_period is not None:
        spec = {"terminationGracePeriodSeconds": termination_grace_period, **spec}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client"}, "spec": spec}


def as_yaml(*objects: dict[str, Any]) -> str:
    """The objects as one multi-document YAML stream."""
    return yaml.safe_dump_all(objects, sort_keys=False)
