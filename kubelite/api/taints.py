"""The well-known taint keys (k8s.io/api/core/v1 ``well_known_taints.go``): one home for every
component that sets, tolerates or schedules around them."""

from __future__ import annotations

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
MEMORY_PRESSURE = "node.kubernetes.io/memory-pressure"
DISK_PRESSURE = "node.kubernetes.io/disk-pressure"
NETWORK_UNAVAILABLE = "node.kubernetes.io/network-unavailable"
PID_PRESSURE = "node.kubernetes.io/pid-pressure"
