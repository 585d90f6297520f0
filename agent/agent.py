"""One node agent: runtime + node registration/lease + pod loop + API, with start()/stop().

Start order: runtime, namespaces and the cluster's identity (which scopes
the runtime to this cluster's containers), events, API (its port goes into the Node),
node registration and lease, then the pod loop (informer sync, rediscovery,
workers), disk-pressure eviction and the usage sampler. Stop runs in reverse. The etcd client/store is injected so that
many simulated agents can share one connection.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from kubelite.api import quantity
from kubelite.client.bootstrap import existing_cluster_uid
from kubelite.client.events import EventRecorder
from kubelite.node.evictionflags import KUBELET_EVICTION_HARD, Threshold, parse_eviction_hard
from kubelite.client.informer import Informer
from kubelite.registry.storageclass import LOCAL_PATH_ROOT
from kubelite.storage.store import Store

from agent.images import ImageDirWatcher
from agent.api import AgentApi
from agent.diskpressure import DiskPressureMonitor, Observe
from agent.localpath import VolumeReclaimer
from agent.metrics import AgentMetrics
from agent.node import NodeConfig, NodeHeartbeat
from agent.nodehealth import NodeHealth
from agent.podconfig.sources import ConfigSource
from agent.apiclient import GatewayConnection
from agent.podconfig.tokens import GatewayTokenRequester, TokenManager
from agent.podsource import PodSource
from agent.proxy.proxier import Proxier
from agent.pods import PodManager, PodOptions
from agent.runtime.base import ContainerRuntime, RuntimeUnavailable
from agent.runtime.scoped import ClusterScopedRuntime
from agent.stats import ResourceMetrics, StatsCollector

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgentConfig:
    """The node's settings (``NodeConfig``: registration, heartbeat, lease), the pod loop's
    (``PodOptions``), and the agent's own; both parts name the same node (name and IP)."""

    node_config: NodeConfig  # its endpoint is set at start, once the agent API listens
    pod_options: PodOptions
    listen_host: str | None = "127.0.0.1"  # None: no API server
    listen_port: int = 0
    token: str = ""
    drain_on_exit: bool = False
    # The kubelet's --eviction-hard defaults; () disables disk-pressure eviction.
    eviction_hard: tuple[Threshold, ...] = field(
        default_factory=lambda: parse_eviction_hard(KUBELET_EVICTION_HARD))
    pressure_transition_period: float = 300.0
    eviction_interval: float = 10.0
    proxy_mode: str = "none"  # "iptables": run the node proxy (docker runtime); "none": no service rules
    local_path_root: str = LOCAL_PATH_ROOT  # deleted local-path volumes' directories are removed only under it
    stats_interval: float = 10.0  # seconds between usage samples (agent/stats.py)
    image_dir: str | None = None  # archives dropped here are loaded into the runtime (agent/images.py)
    # Where pods' service account tokens come from (TokenRequest; agent/podconfig/tokens.py): the gateway's
    # URL, its CA, and this node's client certificate (system:node:<name>); "" = no tokens can be mounted.
    api_server: str = ""
    api_ca_file: str = ""
    api_client_cert: str = ""
    api_client_key: str = ""
    api_token: str = ""  # a bearer token for --api-server instead of a certificate (kl up's token mode)

    def __post_init__(self) -> None:
        if (self.pod_options.node, self.pod_options.host_ip) != (self.node_config.name, self.node_config.address):
            raise ValueError(f"the node config ({self.node_config.name}, {self.node_config.address}) and the pod "
                             f"options ({self.pod_options.node}, {self.pod_options.host_ip}) name different nodes")

    @property
    def node(self) -> str:
        """The node's name."""
        return self.node_config.name

    @property
    def node_ip(self) -> str:
        """The node's InternalIP (the pods' hostIP)."""
        return self.node_config.address


def gateway_connection(config: AgentConfig) -> GatewayConnection | None:
    """The node's connection to ``config.api_server`` (None without one); files are read at once."""
    if not config.api_server:
        return None
    return GatewayConnection(
        config.api_server, ca_file=Path(config.api_ca_file) if config.api_ca_file else None,
        client_cert=Path(config.api_client_cert) if config.api_client_cert else None,
        client_key=Path(config.api_client_key) if config.api_client_key else None, bearer_token=config.api_token)


class Agent:
    def __init__(
        self, config: AgentConfig, *, store: Store, runtime: ContainerRuntime, pod_source: PodSource | None = None,
        observe_disk: Observe | None = None, config_source: ConfigSource | None = None,
        volume_source: Informer | None = None, api: GatewayConnection | None = None,
    ) -> None:
        """``api``: the node's connection to the gateway, when the caller made one (its writes share
        it); else one is made from ``config.api_server``."""
        self.config = config
        self.api_connection = api or gateway_connection(config)
        self.store = store
        # The agent sees only its cluster's containers, even on an engine other clusters share.
        self.runtime = ClusterScopedRuntime(runtime)
        self.metrics = AgentMetrics(config.node)
        self.health = NodeHealth()  # runtime up/down and disk pressure: read by the node heartbeat
        self.recorder = EventRecorder(store, "kubelite-agent", host=config.node)
        self.pods = PodManager(
            store, self.runtime, recorder=self.recorder, metrics=self.metrics,
            options=config.pod_options,
            pod_source=pod_source, health=self.health, config_source=config_source,
            tokens=TokenManager(GatewayTokenRequester(self.api_connection)) if self.api_connection is not None else None,
        )
        self.disk = DiskPressureMonitor(
            self.pods, self.health, thresholds=config.eviction_hard, observe=observe_disk or runtime.filesystem_stats,
            interval=config.eviction_interval, transition_period=config.pressure_transition_period,
        )
        self.stats = StatsCollector(node=config.node, runtime=self.runtime, pods=self.pods.informer.get,
                                    host_usage=runtime.name != "sim", interval=config.stats_interval)
        self.metrics.registry.register(ResourceMetrics(self.stats))  # the kubelet's resource metric names
        self.api: AgentApi | None = None
        if config.listen_host is not None:
            self.api = AgentApi(host=config.listen_host, port=config.listen_port, token=config.token,
                                pods=self.pods, metrics=self.metrics, healthy=self.healthy, stats=self.stats)
        self.node: NodeHeartbeat | None = None
        self.proxy: Proxier | None = Proxier(store, node=config.node) if config.proxy_mode == "iptables" else None
        self.image_dir = ImageDirWatcher(self.runtime, Path(config.image_dir)) if config.image_dir else None
        # removes this node's deleted local-path volumes (a process's agents may share one PV informer)
        self.volumes = VolumeReclaimer(store, node=config.node, root=config.local_path_root,
                                       filesystem=config.pod_options.root_dir is not None, informer=volume_source)
        self._started: list[str] = []

    def healthy(self) -> bool:
        session = self.node.session if self.node else None
        return session is not None and not session.lost.is_set()

    async def start(self) -> None:
        await self._start_runtime()
        self._started.append("runtime")
        version = await self.runtime.version()
        host = await self.runtime.host_resources()
        self.pods.config.set_allocatable(  # resourceFieldRef's default for a missing limit
            quantity.cpu_millis(self.config.node_config.cpu) if self.config.node_config.cpu else host.cpu_millis,
            quantity.to_bytes(self.config.node_config.memory) if self.config.node_config.memory
            else host.memory_bytes)
        # The API port first, as the kubelet binds its server at start: a taken port is one clear
        # line now, not after waiting for the control plane below
        if self.api is not None:
            await self.api.start()
            self._started.append("api")
            if self.api.host not in (self.config.node_ip, "0.0.0.0", "::"):  # noqa: S104 - comparing, not binding
                log.warning("the agent API listens on %s, but the gateway reaches agents at the node's InternalIP "
                            "%s (--node-ip): pods/log will fail", self.api.host, self.config.node_ip)
        uid = await existing_cluster_uid(self.store)  # read only: a node may not create namespaces
        self.runtime.bind(uid)
        if self.proxy is not None:
            await self.proxy.start(uid)
            self._started.append("proxy")
        await self.recorder.start()
        self._started.append("recorder")
        self.node = NodeHeartbeat(
            self.store,
            replace(self.config.node_config, endpoint=self.api.endpoint if self.api else None),
            host=host, version=version, metrics=self.metrics,
            on_lost=self.pods.close_gate, on_regained=self.pods.rediscover, health=self.health,
        )
        await self.node.start()
        self._started.append("node")
        await self.pods.start()
        self._started.append("pods")
        await self.disk.start()
        self._started.append("disk")
        await self.stats.start()
        self._started.append("stats")
        await self.volumes.start()
        self._started.append("volumes")
        if self.image_dir is not None:
            await self.image_dir.start()
            self._started.append("image_dir")
        log.info("agent %s started (runtime %s %s)", self.config.node, version.name, version.version,
                 extra={"node": self.config.node, "endpoint": self.api.endpoint if self.api else None})

    async def _start_runtime(self) -> None:
        """Wait for the engine like the kubelet waits for its runtime: a node agent started
        while dockerd restarts must come up when it is back, not exit."""
        delay = 0.5
        while True:
            try:
                await self.runtime.start()
                return
            except RuntimeUnavailable as exc:
                log.warning("agent %s: waiting for the container runtime (%s); retrying in %.1fs",
                            self.config.node, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def stop(self) -> None:
        """Reverse order; every step runs even if an earlier one fails (failures are logged)."""
        drain = self.config.drain_on_exit
        steps = {
            "pods": lambda: self.pods.stop(drain=drain),
            "disk": self.disk.stop,
            "stats": self.stats.stop,
            "volumes": self.volumes.stop,
            "node": lambda: self.node.stop(revoke=drain) if self.node else _nothing(),
            "api": lambda: self.api.stop() if self.api else _nothing(),
            "recorder": self._stop_recorder,
            "runtime": self.runtime.stop,
            "proxy": lambda: self.proxy.stop() if self.proxy else _nothing(),
            "image_dir": lambda: self.image_dir.stop() if self.image_dir else _nothing(),
        }
        for name in reversed(self._started):
            try:
                await steps[name]()
            except Exception:
                log.exception("agent %s: stopping %s failed", self.config.node, name)
        self._started = []
        if self.api_connection is not None:  # last: the steps above may still write through it
            await self.api_connection.close()

    async def _stop_recorder(self) -> None:
        try:
            await self.recorder.flush()
        finally:
            await self.recorder.stop()


async def _nothing() -> None:
    return None
