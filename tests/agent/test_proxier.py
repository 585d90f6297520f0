"""The node proxy's loop on a real etcd with a recording stand-in for the iptables tools: it syncs
at start, on every Service/EndpointSlice change, retries after a failure, and cleans up on stop."""

from __future__ import annotations

from typing import Any

from agent.proxy.proxier import Iptables, IptablesError, Proxier
from agent.proxy.rules import Jump
from kubelite.api.resources import ENDPOINTSLICES, SERVICES
from kubelite.storage.store import Store
from tests.helpers import wait_for


class RecordingIptables(Iptables):
    def __init__(self, fail_first: int = 0) -> None:
        self.documents: list[str] = []
        self.jumps: set[Jump] = set()
        self.chains_now: set[str] = set()  # both tables' (the names differ)
        self.fail_first = fail_first

    async def chains(self, table: str = "nat") -> set[str]:
        return {c for c in self.chains_now if c.endswith("-REJECT") == (table == "filter")}

    async def restore(self, document: str) -> None:
        if self.fail_first > 0:
            self.fail_first -= 1
            raise IptablesError("iptables-restore: exit 4: Another app is currently holding the xtables lock")
        self.documents.append(document)
        declared = {line[1:].split()[0] for line in document.splitlines() if line.startswith(":")}
        removed = {line.split()[1] for line in document.splitlines() if line.startswith("-X ")}
        self.chains_now = (self.chains_now | declared) - removed

    async def ensure_jump(self, jump: Jump, comment: str) -> None:
        self.jumps.add(jump)

    async def remove_jump(self, jump: Jump, comment: str) -> None:
        self.jumps.discard(jump)


async def create(store: Store, res: Any, doc: dict[str, Any]) -> None:
    await store.create(res, res.model.model_validate(doc))


async def test_syncs_on_changes_retries_failures_and_cleans_up(store: Store) -> None:
    iptables = RecordingIptables(fail_first=1)
    proxy = Proxier(store, node="n1", iptables=iptables)
    await proxy.start("cluster-uid")  # the first sync fails: logged, not fatal; the loop retries
    await wait_for(lambda: iptables.documents, 10, message="a sync after the failed one")
    assert len(iptables.jumps) == 6
    await create(store, SERVICES, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
                                   "spec": {"clusterIP": "10.96.0.40", "ports": [{"name": "http", "port": 80}]}})
    await create(store, ENDPOINTSLICES, {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
        "metadata": {"name": "web-1", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
        "endpoints": [{"addresses": ["10.1.0.7"], "conditions": {"ready": True}}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]})
    await wait_for(lambda: "--to-destination 10.1.0.7:8080" in iptables.documents[-1], 10,
                   message="the endpoint's DNAT rule after the informers saw it")
    await store.delete(ENDPOINTSLICES, "web-1", "default")
    await wait_for(lambda: "DNAT" not in iptables.documents[-1] and "-X " in iptables.documents[-1], 10,
                   message="its chains removed once the endpoint is gone")
    assert "-d 10.96.0.40/32 -p tcp -m tcp --dport 80" in iptables.documents[-1]  # now rejected
    assert "-j REJECT --reject-with icmp-port-unreachable" in iptables.documents[-1]
    await proxy.stop()
    assert not iptables.jumps and not iptables.chains_now  # nothing of ours left
