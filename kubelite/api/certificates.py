"""certificates.k8s.io/v1 CertificateSigningRequest: its write rules (kube's
``pkg/registry/certificates/certificates/strategy.go`` and ``pkg/apis/certificates/validation``).

- create: the requester's identity goes into ``spec.username/uid/groups/extra`` (:func:`with_requester`,
  called by the gateway, which knows the user); status starts empty;
- a main-resource update changes only metadata (spec and status are kept from the stored object);
  ``/status`` changes status; ``/approval`` changes only ``status.conditions`` (the store's
  subresource rules);
- validation: ``spec.request`` a PEM ``CERTIFICATE REQUEST`` that parses (the ``cryptography``
  library, already a dependency for the PKI), ``spec.signerName`` a qualified ``domain/path``,
  ``spec.usages`` known key usages, ``expirationSeconds`` ≥ 600, condition types unique with
  Approved and Denied exclusive and ``status: "True"``; condition timestamps default to now.

No signer runs in kubelite: an approved request stays without ``status.certificate`` until some
client writes one through ``/status``.

Pure: documents in, copies or causes out. ``cryptography.x509`` (~15 MB of RSS with its Rust
bindings) is imported by the first request checked, not with this module: every process imports
the document rules, only the gateway validates a CSR (issue 12's idle footprint).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from kubelite.api.errors import StatusCause
from kubelite.api.labels import dns1123_subdomain_errors
from kubelite.api import validation as v  # a module import: validation imports the document rules

Doc = dict[str, Any]
KIND = "CertificateSigningRequest"
USAGES = ("signing", "digital signature", "content commitment", "key encipherment", "key agreement",
          "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any",
          "server auth", "client auth", "code signing", "email protection", "s/mime", "ipsec end system",
          "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc")
_SIGNER_PATH = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
MIN_EXPIRATION_SECONDS = 600


def with_requester(doc: Doc, *, username: str, uid: str = "", groups: tuple[str, ...] = (),
                   extra: dict[str, list[str]] | None = None) -> Doc:
    """``doc`` with the requesting user's identity in ``spec``, whatever the client sent there
    (kube's PrepareForCreate)."""
    spec = {k: v for k, v in (doc.get("spec") or {}).items() if k not in ("username", "uid", "groups", "extra")}
    spec["username"] = username
    if uid:
        spec["uid"] = uid
    if groups:
        spec["groups"] = list(groups)
    if extra:
        spec["extra"] = extra
    return {**doc, "spec": spec}


def prepare(doc: Doc, *, now: str) -> Doc:
    """Condition timestamps default to ``now`` (kube's populateConditionTimestamps)."""
    status = doc.get("status")
    if not isinstance(status, dict) or not isinstance(status.get("conditions"), list):
        return doc
    conditions = []
    for condition in status["conditions"]:
        if isinstance(condition, dict):
            condition = {**condition}
            condition.setdefault("lastUpdateTime", now)
            condition.setdefault("lastTransitionTime", now)
        conditions.append(condition)
    return {**doc, "status": {**status, "conditions": conditions}}


def keep_spec(old: Doc, new: Doc) -> Doc:
    """A main-resource update keeps the stored spec (kube's PrepareForUpdate; status is kept by the store)."""
    return {**new, "spec": old.get("spec")} if "spec" in old else {k: v for k, v in new.items() if k != "spec"}


def _request_causes(request: Any) -> list[StatusCause]:
    if not request:
        return [v.required("spec.request")]
    from cryptography import x509  # here, not at the top: see the module docstring

    try:
        pem = base64.b64decode(request, validate=True)
        x509.load_pem_x509_csr(pem)
    except (binascii.Error, ValueError, TypeError):
        return [v.invalid("spec.request", "<request data>", "PEM block type must be CERTIFICATE REQUEST")]
    return []


def _signer_causes(signer: Any) -> list[StatusCause]:
    if not signer:
        return [v.required("spec.signerName")]
    domain, slash, path = str(signer).partition("/")
    detail = "must be a fully qualified domain and path of the form 'example.com/signer-name'"
    if not slash or not path or dns1123_subdomain_errors(domain) or "." not in domain or not _SIGNER_PATH.match(path):
        return [v.invalid("spec.signerName", signer, detail)]
    return []


def _condition_causes(conditions: Any) -> list[StatusCause]:
    causes: list[StatusCause] = []
    seen: set[str] = set()
    for i, condition in enumerate(conditions or []):
        path = f"status.conditions[{i}]"
        kind = condition.get("type") if isinstance(condition, dict) else None
        if not kind:
            causes.append(v.required(f"{path}.type"))
            continue
        if kind in ("Approved", "Denied", "Failed") and kind in seen:
            causes.append(v.duplicate(f"{path}.type", kind))
        seen.add(kind)
        if kind in ("Approved", "Denied") and condition.get("status") != "True":
            causes.append(v.unsupported(f"{path}.status", condition.get("status"), ("True",)))
        elif not condition.get("status"):
            causes.append(v.required(f"{path}.status"))
    if {"Approved", "Denied"} <= seen:
        causes.append(v.invalid("status.conditions", "Approved", "Approved and Denied conditions are mutually exclusive"))
    return causes


def validate(doc: Doc) -> list[StatusCause]:
    spec = doc.get("spec") or {}
    causes = _request_causes(spec.get("request")) + _signer_causes(spec.get("signerName"))
    usages = spec.get("usages")
    if not usages:
        causes.append(v.required("spec.usages"))
    for i, usage in enumerate(usages or []):
        if usage not in USAGES:
            causes.append(v.unsupported(f"spec.usages[{i}]", usage, USAGES))
    seconds = spec.get("expirationSeconds")
    if isinstance(seconds, int) and seconds < MIN_EXPIRATION_SECONDS:
        causes.append(v.invalid("spec.expirationSeconds", seconds, f"may not specify a duration less than "
                              f"{MIN_EXPIRATION_SECONDS} seconds (10 minutes)"))
    status = doc.get("status") or {}
    causes += _condition_causes(status.get("conditions"))
    if status.get("certificate") and not any(
            isinstance(c, dict) and c.get("type") == "Approved" for c in status.get("conditions") or []):
        causes.append(v.forbidden("status.certificate", "certificate may only be set on an Approved request"))
    return causes
