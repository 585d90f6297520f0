"""ServiceAccount admission on pod create (kube-apiserver's ``ServiceAccount`` plugin,
``plugin/pkg/admission/serviceaccount/admission.go``). Pure: the Store reads the account and calls
:func:`admit`.

- ``spec.serviceAccountName`` defaults to ``default``;
- the account must exist: else 403 ``error looking up service account NS/NAME: serviceaccount
  "NAME" not found`` (the Store reads it once; kube-apiserver retries ``default`` for up to ~2 s
  while its controller creates it, and so does the Store);
- unless ``automountServiceAccountToken`` is false (the pod's setting wins over the account's), a
  projected volume ``kube-api-access-<5 random>`` is added (a ``serviceAccountToken`` of 3607 s at
  ``token``, ``ca.crt`` from the ``kube-root-ca.crt`` ConfigMap, the ``namespace`` from the downward
  API; ``defaultMode`` 420) and mounted read-only at :data:`MOUNT_PATH` in every init container and
  container that does not mount something there already (ephemeral containers are left alone);
  a pod that already has a ``kube-api-access-`` volume keeps it and gets no second one;
- a pod without ``imagePullSecrets`` gets the account's;
- mirror pods (annotation ``kubernetes.io/config.mirror``) are not changed, and may not name an
  account or mount a secret (403).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from kubelite.api import errors
from kubelite.api.core import Pod, PodSpec
from kubelite.api.names import random_suffix
from kubelite.api.podconfig import Volume, VolumeMount

DEFAULT_ACCOUNT = "default"
VOLUME_PREFIX = "kube-api-access-"
MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
ROOT_CA_KEY = "ca.crt"
TOKEN_SECONDS = 3607  # serviceaccount.WarnOnlyBoundTokenExpirationSeconds: 1 h + 7 s marks admission's tokens
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
DEFAULT_MODE = 0o644  # 420, written out as kube does (#104464)


def _forbidden(pod: Pod, message: str) -> errors.ApiError:
    name = pod.metadata.name or pod.metadata.generate_name or ""
    return errors.forbidden(f'pods "{name}" is forbidden: {message}', kind="pods", name=name)


def account_name(pod: Pod) -> str | None:
    """The account the pod will run as (None for a mirror pod, which admission leaves alone)."""
    if MIRROR_ANNOTATION in (pod.metadata.annotations or {}):
        return None
    return pod.spec.service_account_name or DEFAULT_ACCOUNT


def token_volume() -> dict[str, Any]:
    """The projected volume source admission adds (``TokenVolumeSource``), as a document."""
    return {"defaultMode": DEFAULT_MODE, "sources": [
        {"serviceAccountToken": {"expirationSeconds": TOKEN_SECONDS, "path": "token"}},
        {"configMap": {"name": ROOT_CA_CONFIGMAP, "items": [{"key": ROOT_CA_KEY, "path": ROOT_CA_KEY}]}},
        {"downwardAPI": {"items": [{"path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
    ]}


def _should_automount(pod: Pod, account: dict[str, Any]) -> bool:
    for setting in (pod.spec.automount_service_account_token, account.get("automountServiceAccountToken")):
        if setting is not None:
            return bool(setting)
    return True


def admit(pod: Pod, account: dict[str, Any] | None, *,
          choice: Callable[[str], str] | None = None, in_place: bool = False) -> Pod:
    """The pod as admission leaves it; ``account`` is the ServiceAccount document named by
    :func:`account_name` (None when absent: 403). ``choice`` picks the volume name's characters.
    ``in_place``: change ``pod`` itself (a caller's own copy: the Store's create), else a copy."""
    if account_name(pod) is None:
        if pod.spec.service_account_name:
            raise _forbidden(pod, "a mirror pod may not reference service accounts")
        if any(v.secret is not None for v in pod.spec.volumes or []):
            raise _forbidden(pod, "a mirror pod may not reference secrets")
        return pod
    name = account_name(pod)
    if account is None:
        raise _forbidden(pod, f"error looking up service account {pod.metadata.namespace}/{name}: "
                              f'serviceaccount "{name}" not found')
    admitted = pod if in_place else pod.deep_copy()
    spec = admitted.spec
    spec.service_account_name = name
    if _should_automount(admitted, account):
        _mount_token(spec, choice)
    # imagePullSecrets is not a field of kubelite's PodSpec: it is kept as sent, among the extras
    if not (spec.model_extra or {}).get("imagePullSecrets") and account.get("imagePullSecrets"):
        setattr(spec, "imagePullSecrets", copy.deepcopy(account["imagePullSecrets"]))
    return admitted


def _mount_token(spec: PodSpec, choice: Callable[[str], str] | None) -> None:
    volumes = spec.volumes or []
    existing = next((v.name for v in volumes if v.name.startswith(VOLUME_PREFIX)), None)
    volume_name = existing or VOLUME_PREFIX + random_suffix(choice)
    needs_volume = False
    for container in [*(spec.init_containers or []), *spec.containers]:
        mounts = container.volume_mounts or []
        if any(m.mount_path == MOUNT_PATH for m in mounts):
            continue  # the pod's own mount there wins
        container.volume_mounts = [*mounts, VolumeMount(name=volume_name, read_only=True, mount_path=MOUNT_PATH)]
        needs_volume = True
    if needs_volume and existing is None:
        spec.volumes = [*volumes, Volume.model_validate({"name": volume_name, "projected": token_volume()})]
