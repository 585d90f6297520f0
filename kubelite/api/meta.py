"""Object metadata and the base every Kubernetes-shaped model derives from.

Models use snake_case attributes with Kubernetes' camelCase JSON names as
aliases. Defaults are ``None`` (not Kubernetes' defaults) so that a manifest
parses and dumps back unchanged; effective defaults live in properties or in
the code that consumes the field. Unknown fields are kept (``extra="allow"``)
and reported by :func:`kubelite.api.warnings.unknown_fields`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Self

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel


class KubeModel(BaseModel):
    """Base of every nested API structure: camelCase JSON, unknown fields kept."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        validate_default=False,
        defer_build=True,
    )

    def to_dict(self) -> dict[str, Any]:
        """The JSON document Kubernetes would show (no nulls)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def deep_copy(self) -> Self:
        """A copy sharing nothing mutable with this one: the same values, set fields and extras.

        Objects from an informer cache are shared: copy before changing. The set fields are dumped
        and validated again, a fifth of the time of pydantic's ``model_copy(deep=True)`` (17 against
        83 µs for a Deployment's pod; issue 12: the create path copies every pod twice). A value its
        field's type does not take (assigned without validation) fails that validation: such a model
        is copied by ``model_copy(deep=True)``, which copies anything as it is.
        """
        try:
            return self.model_validate(self.model_dump(exclude_unset=True, warnings=False))
        except ValidationError:
            return self.model_copy(deep=True)


class OwnerReference(KubeModel):
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ManagedFieldsEntry(KubeModel):
    """Who owns which fields (server-side apply); see :mod:`kubelite.gateway.fieldmanager`."""

    manager: str | None = None
    operation: str | None = None
    api_version: str | None = None
    time: str | None = None  # RFC 3339, kept as written
    fields_type: str | None = None
    fields_v1: dict[str, Any] | None = Field(default=None, alias="fieldsV1")
    subresource: str | None = None


class ObjectMeta(KubeModel):
    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    owner_references: list[OwnerReference] | None = None
    finalizers: list[str] | None = None
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    deletion_grace_period_seconds: int | None = None
    managed_fields: list[ManagedFieldsEntry] | None = None

    def controller_ref(self) -> OwnerReference | None:
        for ref in self.owner_references or []:
            if ref.controller:
                return ref
        return None


class KubeObject(KubeModel):
    """A top-level object: apiVersion, kind, metadata.

    Subclasses set ``API_VERSION`` and ``KIND``; a document whose apiVersion
    or kind differs is rejected when parsed.
    """

    API_VERSION: ClassVar[str] = ""
    KIND: ClassVar[str] = ""

    api_version: str | None = Field(
        default=None, validation_alias=AliasChoices("apiVersion", "api_version"), serialization_alias="apiVersion"
    )
    kind: str | None = None
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    def model_post_init(self, context: Any, /) -> None:
        if self.api_version is None:
            self.api_version = self.API_VERSION
        if self.kind is None:
            self.kind = self.KIND

    @property
    def name(self) -> str:
        return self.metadata.name or ""

    @property
    def namespace(self) -> str | None:
        return self.metadata.namespace

