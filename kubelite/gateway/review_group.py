"""What the review APIs (:mod:`kubelite.gateway.reviews`) serve, for discovery and routing alike:
kube-apiserver 1.32's ``authentication.k8s.io/v1`` and ``authorization.k8s.io/v1`` resources, each
``create`` only. Computed per request, never stored: not in the catalog."""

from __future__ import annotations

AUTHN = "authentication.k8s.io"
AUTHZ = "authorization.k8s.io"
VERSION = "v1"
VERBS = ("create",)
# (group, plural, kind, namespaced)
RESOURCES = (
    (AUTHN, "selfsubjectreviews", "SelfSubjectReview", False),
    (AUTHN, "tokenreviews", "TokenReview", False),
    (AUTHZ, "localsubjectaccessreviews", "LocalSubjectAccessReview", True),
    (AUTHZ, "selfsubjectaccessreviews", "SelfSubjectAccessReview", False),
    (AUTHZ, "selfsubjectrulesreviews", "SelfSubjectRulesReview", False),
    (AUTHZ, "subjectaccessreviews", "SubjectAccessReview", False),
)
GROUPS = (AUTHN, AUTHZ)


def resources_of(group: str) -> list[tuple[str, str, bool]]:
    """(plural, kind, namespaced) of one of the groups."""
    return [(plural, kind, namespaced) for g, plural, kind, namespaced in RESOURCES if g == group]
