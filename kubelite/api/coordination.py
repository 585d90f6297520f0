"""coordination.k8s.io/v1 Lease: node heartbeats and controller-manager leader election."""

from __future__ import annotations

from pydantic import Field

from kubelite.api.core import MicroTime
from kubelite.api.meta import KubeModel, KubeObject


class LeaseSpec(KubeModel):
    holder_identity: str | None = None
    lease_duration_seconds: int | None = None
    acquire_time: MicroTime | None = None
    renew_time: MicroTime | None = None
    lease_transitions: int | None = None


class Lease(KubeObject):
    API_VERSION = "coordination.k8s.io/v1"
    KIND = "Lease"

    spec: LeaseSpec = Field(default_factory=LeaseSpec)
