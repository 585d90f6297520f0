"""Whatever bytes a node stores under its Lease key, every reader (kubelite.storage.store's decode,
decode_document, document_bytes) gets a Lease named after the key, and none raises
(kubelite.storage.nodewritten)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from kubelite.api.resources import LEASES
from kubelite.storage.store import decode, decode_document, document_bytes

KEY = LEASES.key("node-1", "kube-node-lease").encode()
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                     max_leaves=10)
_LEASEISH = st.fixed_dictionaries({}, optional={"metadata": _JSON | st.fixed_dictionaries(
    {}, optional={"name": _JSON, "namespace": _JSON, "uid": _JSON}), "spec": _JSON, "kind": _JSON})


@given(st.binary(max_size=64) | _JSON.map(lambda v: json.dumps(v).encode())
       | _LEASEISH.map(lambda v: json.dumps(v).encode()))
def test_any_value_under_a_node_lease_key_reads_as_that_nodes_lease(value: bytes) -> None:
    lease = decode(LEASES, value, 7, key=KEY)
    assert (lease.namespace, lease.name, lease.metadata.resource_version) == ("kube-node-lease", "node-1", "7")
    doc = decode_document(LEASES, value, 7, key=KEY)
    assert (doc["metadata"]["namespace"], doc["metadata"]["name"]) == ("kube-node-lease", "node-1")
    raw = json.loads(document_bytes(LEASES, value, 7, key=KEY))
    assert (raw["metadata"]["name"], raw["metadata"]["resourceVersion"]) == ("node-1", "7")


def test_other_keys_keep_the_identity_their_value_gives() -> None:
    value = json.dumps({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                        "metadata": {"name": "x", "namespace": "kube-system"}}).encode()
    assert decode(LEASES, value, 1, key=LEASES.key("y", "kube-system").encode()).name == "x"
