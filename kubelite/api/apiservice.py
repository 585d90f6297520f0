"""apiregistration.k8s.io/v1 APIService: its write rules and the local APIServices kube lists.

kube-aggregator (``pkg/apis/apiregistration/validation``, ``pkg/controllers/status``):

- the name must be ``<spec.version>.<spec.group>`` (``v1.`` for the core group), the group an
  RFC 1123 subdomain, the version an RFC 1035 label, ``groupPriorityMinimum`` 1..20000,
  ``versionPriority`` 1..1000; a local APIService (no ``spec.service``) has no ``caBundle`` nor
  ``insecureSkipTLSVerify``; a service has a name and namespace, ``port`` defaults to 443;
- status: the ``Available`` condition. A local one is ``True``/``Local``. kubelite has no
  aggregation layer (it proxies no requests to an extension API server), so one with a service
  is ``False``/``FailedDiscoveryCheck`` and its group is not added to discovery. Kube's
  availability controller computes this condition; kubelite computes it on every write, as
  nothing here changes it afterwards.

Local APIServices for the group versions the gateway serves are kept by
:mod:`kubelite.gateway.apiservices` (kube's autoregister and CRD registration controllers);
:func:`local_apiservice` builds one.

Pure: documents in, copies or causes out.
"""

from __future__ import annotations

from typing import Any

from kubelite.api.errors import StatusCause
from kubelite.api.labels import dns1123_label_errors, dns1123_subdomain_errors
from kubelite.api import validation as v  # a module import: validation imports the document rules

Doc = dict[str, Any]
KIND = "APIService"
API_VERSION = "apiregistration.k8s.io/v1"
AUTOMANAGED = "kube-aggregator.kubernetes.io/automanaged"  # "onstart" (built-in) or "true" (a CRD's)
# kube's apiVersionPriorities (pkg/controlplane/apiserver/aggregator.go and its generic defaults)
PRIORITIES: dict[tuple[str, str], tuple[int, int]] = {
    ("", "v1"): (18000, 1), ("apiregistration.k8s.io", "v1"): (18000, 15), ("apps", "v1"): (17800, 15),
    ("events.k8s.io", "v1"): (17750, 15), ("authentication.k8s.io", "v1"): (17700, 15),
    ("authorization.k8s.io", "v1"): (17600, 15), ("autoscaling", "v1"): (17500, 15),
    ("autoscaling", "v2"): (17500, 30), ("batch", "v1"): (17400, 15), ("certificates.k8s.io", "v1"): (17300, 15),
    ("networking.k8s.io", "v1"): (17200, 15), ("policy", "v1"): (17100, 15),
    ("rbac.authorization.k8s.io", "v1"): (17000, 15), ("storage.k8s.io", "v1"): (16800, 15),
    ("apiextensions.k8s.io", "v1"): (16700, 15), ("admissionregistration.k8s.io", "v1"): (16700, 15),
    ("scheduling.k8s.io", "v1"): (16600, 15), ("coordination.k8s.io", "v1"): (16500, 15),
    ("discovery.k8s.io", "v1"): (16200, 15), ("metrics.k8s.io", "v1beta1"): (100, 100),
}
CRD_PRIORITY = (1000, 100)  # kube's crdRegistrationController: CRD groups rank low, versions by kube order
_LOCAL = {"type": "Available", "status": "True", "reason": "Local",
          "message": "Local APIServices are always available"}
_REMOTE = {"type": "Available", "status": "False", "reason": "FailedDiscoveryCheck",
           "message": "kubelite has no aggregation layer: requests are not proxied to services"}


def name_of(group: str, version: str) -> str:
    return f"{version}.{group}"


def local_apiservice(group: str, version: str, *, crd: bool = False) -> Doc:
    """The local APIService of a group version this gateway serves (labelled as kube's controllers do)."""
    group_min, version_priority = CRD_PRIORITY if crd else PRIORITIES.get((group, version), CRD_PRIORITY)
    spec: Doc = {"version": version, "groupPriorityMinimum": group_min, "versionPriority": version_priority}
    if group:
        spec["group"] = group
    return {"apiVersion": API_VERSION, "kind": KIND,
            "metadata": {"name": name_of(group, version), "labels": {AUTOMANAGED: "true" if crd else "onstart"}},
            "spec": spec}


def prepare(doc: Doc, *, now: str) -> Doc:
    """``spec.service.port`` defaults to 443; status gets the Available condition, its
    lastTransitionTime kept while the status it has does not change."""
    spec = dict(doc.get("spec") or {})
    if isinstance(spec.get("service"), dict):
        spec["service"] = {**spec["service"]}
        spec["service"].setdefault("port", 443)
    wanted = _REMOTE if spec.get("service") else _LOCAL
    status = dict(doc.get("status") or {})
    others = [c for c in status.get("conditions") or [] if isinstance(c, dict) and c.get("type") != "Available"]
    before = next((c for c in status.get("conditions") or []
                   if isinstance(c, dict) and c.get("type") == "Available"), None)
    if before is not None and before.get("status") == wanted["status"] and before.get("lastTransitionTime"):
        since = before["lastTransitionTime"]
    else:
        since = now
    status["conditions"] = [{**wanted, "lastTransitionTime": since}, *others]
    return {**doc, "spec": spec, "status": status}


def validate(doc: Doc) -> list[StatusCause]:
    spec = doc.get("spec") or {}
    group, version = spec.get("group") or "", spec.get("version") or ""
    causes: list[StatusCause] = []
    name = (doc.get("metadata") or {}).get("name")
    if name and name != name_of(group, version):
        causes.append(v.invalid("metadata.name", name, f'must be `spec.version+"."+spec.group`: "{name_of(group, version)}"'))
    if not group and version != "v1":
        causes.append(v.required("spec.group", "only v1 may have an empty group and it better be legacy kube"))
    causes += [v.invalid("spec.group", group, e) for e in (dns1123_subdomain_errors(group) if group else [])]
    causes += [v.invalid("spec.version", version, e) for e in _dns1035_label_errors(version)]
    group_min, version_priority = spec.get("groupPriorityMinimum") or 0, spec.get("versionPriority") or 0
    if not 0 < group_min <= 20000:
        causes.append(v.invalid("spec.groupPriorityMinimum", group_min, "must be positive and less than 20000"))
    if not 0 < version_priority <= 1000:
        causes.append(v.invalid("spec.versionPriority", version_priority, "must be positive and less than 1000"))
    service = spec.get("service")
    if not service:
        if spec.get("caBundle"):
            causes.append(v.invalid("spec.caBundle", f"{len(spec['caBundle'])} bytes",
                                  "local APIServices may not have a caBundle"))
        if spec.get("insecureSkipTLSVerify"):
            causes.append(v.invalid("spec.insecureSkipTLSVerify", True,
                                  "local APIServices may not have insecureSkipTLSVerify"))
        return causes
    for key in ("namespace", "name"):
        if not service.get(key):
            causes.append(v.required(f"spec.service.{key}"))
    port = service.get("port", 443)
    if not 0 < port < 65536:
        causes.append(v.invalid("spec.service.port", port, "must be between 1 and 65535, inclusive"))
    if spec.get("insecureSkipTLSVerify") and spec.get("caBundle"):
        causes.append(v.invalid("spec.insecureSkipTLSVerify", True, "may not be true if caBundle is present"))
    return causes


_DNS1035 = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
            "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
            "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")


def _dns1035_label_errors(value: str) -> list[str]:
    """IsDNS1035Label: an RFC 1123 label that starts with a letter."""
    if not value or dns1123_label_errors(value) or not value[0].isalpha():
        return [_DNS1035]
    return []
