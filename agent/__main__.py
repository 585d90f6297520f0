"""``python -m agent``: run one node agent in the foreground (or N simulated ones).

    python -m agent --node n1 --runtime docker --etcd-endpoints 127.0.0.1:2379 \\
        --listen 127.0.0.1:10250 --token-file n1.token --labels zone=a --taints gpu=yes:NoSchedule
    python -m agent --runtime sim --sim-count 100 --node-prefix sim- --listen none
    python -m agent --runtime sim --sim-count 20 --node-prefix node- --sim-first 1 \\
        --agent-secret-file agent-secret --etcd-endpoints 127.0.0.1:2379    # node-1 … node-20

The API token is this node's own (HMAC of the cluster's
agent secret and the node name, see ``kubelite.node.agent_auth``), so a token of one
node opens no other node's agent. ``--agent-secret-file`` derives it from the
secret instead: for a process hosting many simulated nodes, which is trusted
with every node's token anyway.

SIGTERM/SIGINT stop it cleanly; containers keep running (like a kubelet
restart) unless ``--drain-on-exit`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import signal
import ssl
import sys
from pathlib import Path
from typing import Any

from agent.agent import Agent, AgentConfig, gateway_connection
from agent.node import NodeConfig
from agent.pods import PodOptions
from agent.podconfig.apisecrets import ApiSecrets
from agent.podconfig.sources import ConfigSource
from agent.apiclient import GatewayConnection
from agent.apiwrites import ApiWriteStore
from agent.podsource import NodeView, shared_informer
from agent.runtime.base import ContainerRuntime, LogLimits
from agent.runtime.sim import SimRuntime
from kubelite.node.agent_auth import node_token
from kubelite.node.labels import forbidden_node_labels
from kubelite.api.core import Taint
from kubelite.api.resources import PERSISTENTVOLUMES
from kubelite.etcd.client import connect
from kubelite.etcd.metrics import observe_etcd_requests
from kubelite.etcd.flags import add_etcd_arguments, etcd_config_from_args
from kubelite.client.informer import Informer
from kubelite.node import logcaps
from kubelite.node.evictionflags import KUBELET_EVICTION_HARD, parse_eviction_hard
from kubelite.util.listen import ListenError, split_host_port
from kubelite.util.logs import setup_logging
from kubelite.util.process import settle_heap
from kubelite.storage.store import Store

log = logging.getLogger("agent")

TOKEN_ENV = "KUBELITE_AGENT_TOKEN"


def parse_labels(raw: str | None) -> dict[str, str]:
    """'a=b,c=d' → {'a': 'b', 'c': 'd'}."""
    labels: dict[str, str] = {}
    for part in (raw or "").split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"label {part!r} is not key=value")
        labels[key.strip()] = value.strip()
    return labels


def parse_taints(raw: str | None) -> tuple[Taint, ...]:
    """'k=v:NoSchedule,k2:NoExecute' → taints."""
    taints = []
    for part in (raw or "").split(","):
        part = part.strip()
        if not part:
            continue
        head, sep, effect = part.rpartition(":")
        if not sep or effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise argparse.ArgumentTypeError(
                f"taint {part!r} must be key[=value]:NoSchedule|PreferNoSchedule|NoExecute")
        key, _, value = head.partition("=")
        taints.append(Taint(key=key, value=value or None, effect=effect))
    return tuple(taints)


def parse_listen(raw: str) -> tuple[str | None, int]:
    if raw.lower() in ("none", "off", ""):
        return None, 0
    try:
        return split_host_port(raw, flag="--listen", default_host="127.0.0.1")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (or none)") from None


def parse_log_size(raw: str) -> int:
    """The kubelet's containerLogMaxSize rule (:mod:`kubelite.node.logcaps`)."""
    try:
        return logcaps.parse_max_size(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_log_files(raw: str) -> int:
    try:
        return logcaps.parse_max_files(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seconds(raw: str, *, allow_zero: bool) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise argparse.ArgumentTypeError(f"{raw!r} must be a finite number of seconds "
                                         f"{'of 0 or more' if allow_zero else 'above 0'}")
    return value


def positive_seconds(raw: str) -> float:
    """A finite number of seconds above 0 (intervals and periods)."""
    return _seconds(raw, allow_zero=False)


def non_negative_seconds(raw: str) -> float:
    """A finite number of seconds, 0 or more."""
    return _seconds(raw, allow_zero=True)


def positive_int(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"{raw!r} must be an integer of at least 1")
    return int(raw)


def parse_thresholds(raw: str):  # type: ignore[no-untyped-def]
    try:
        return parse_eviction_hard(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kl agent", description="Run a kubelite node agent (the kubelet).")
    p.add_argument("--node", help="node name (required unless --sim-count)")
    p.add_argument("--runtime", choices=("docker", "oci", "sim"), default="docker")
    add_etcd_arguments(p)
    p.add_argument("--listen", default="127.0.0.1:0", help="agent API address HOST:PORT, port 0 = any, or 'none'")
    p.add_argument("--token-file", "--agent-token-file", dest="agent_token_file",
                   help=f"file holding this node's agent API token (else ${TOKEN_ENV})")
    p.add_argument("--agent-secret-file", help="file holding the cluster's agent secret: each node's token is "
                                               "derived from it (for --sim-count; instead of --token-file)")
    p.add_argument("--node-ip", default="127.0.0.1", help="InternalIP of the node; host ports publish here")
    p.add_argument("--lease-ttl", type=positive_int, default=40,
                   help="node lease duration in seconds: the node turns Unknown this long after its last renewal "
                        "(the kubelet's nodeLeaseDurationSeconds, 40); renewed every TTL/3")
    p.add_argument("--status-period", type=positive_seconds, default=300.0,
                   help="seconds between Node status reports when nothing changed (the kubelet's "
                        "nodeStatusReportFrequency, 5 min; a change is reported at once, liveness is the lease)")
    p.add_argument("--labels", type=parse_labels, default={}, help="k=v,... node labels")
    p.add_argument("--taints", type=parse_taints, default=(), help="k=v:Effect,... taints at registration")
    p.add_argument("--cpu", help="cpu capacity (quantity), default: the host's")
    p.add_argument("--memory", help="memory capacity (quantity), default: the host's")
    p.add_argument("--max-pods", type=int, default=110)
    p.add_argument("--drain-on-exit", action="store_true", help="stop and remove all containers on exit")
    p.add_argument("--pause-image", default="kubelite/demo:latest", help="image of the pod sandbox (runs sleep)")
    p.add_argument("--docker-url", help="Docker Engine URL (default: DOCKER_HOST or the local socket)")
    p.add_argument("--backoff-initial", type=positive_seconds, default=10.0, help="first CrashLoopBackOff delay (s)")
    p.add_argument("--backoff-cap", type=positive_seconds, default=300.0, help="CrashLoopBackOff cap (s)")
    p.add_argument("--container-log-max-size", type=parse_log_size, default=logcaps.DEFAULT_MAX_SIZE, metavar="QUANTITY",
                   help="rotate a container's log when it reaches this size (default 10Mi)")
    p.add_argument("--container-log-max-files", type=parse_log_files, default=logcaps.DEFAULT_MAX_FILES, metavar="N",
                   help="log files kept per container, the current one included (default 5)")
    p.add_argument("--eviction-hard", type=parse_thresholds, default=parse_eviction_hard(KUBELET_EVICTION_HARD),
                   metavar="SIGNAL<VALUE,...", help=f"hard eviction thresholds (default {KUBELET_EVICTION_HARD.replace('%', '%%')}; "
                   "signals nodefs.available, imagefs.available; values N%% or a quantity; '' disables)")
    p.add_argument("--eviction-pressure-transition-period", type=non_negative_seconds, default=300.0, metavar="SECONDS",
                   help="how long DiskPressure stays after the last threshold crossing (default 300)")
    p.add_argument("--eviction-monitoring-interval", type=positive_seconds, default=10.0, metavar="SECONDS",
                   help="seconds between disk checks; at most one pod is evicted per check (default 10)")
    p.add_argument("--proxy-mode", choices=("iptables", "none"), help="node proxy for Services (default: "
                   "iptables with the docker runtime, none with sim)")
    p.add_argument("--cluster-dns", help="IP of the cluster DNS: resolv.conf of dnsPolicy ClusterFirst pods")
    p.add_argument("--cluster-domain", default="cluster.local", help="the cluster's DNS domain (default cluster.local)")
    p.add_argument("--root-dir", help="directory of pods' volumes (<root-dir>/pods/<uid>/volumes/...); "
                   "default: /var/lib/kubelite/agent/<node> with the docker runtime, none with sim")
    p.add_argument("--stats-interval", type=positive_seconds, default=10.0, metavar="SECONDS",
                   help="seconds between CPU/memory usage samples served at /stats/summary (default 10, the "
                        "kubelet's housekeeping period)")
    p.add_argument("--oci-root", default="/var/lib/kubelite/oci",
                   help="oci runtime: state directory (image store, containers, CNI allocations)")
    p.add_argument("--oci-runtime", default="runc", help="oci runtime: the OCI runtime binary (runc or crun)")
    p.add_argument("--pod-cidr", default="10.244.0.0/24", help="oci runtime: this node's pod CIDR (CNI host-local)")
    p.add_argument("--cni-bridge", default="kl-cni0", help="oci runtime: the CNI bridge's name")
    p.add_argument("--cni-network", default="kubelite-oci", help="oci runtime: the CNI network's name")
    p.add_argument("--load-image", action="append", default=[], metavar="ARCHIVE",
                   help="oci runtime: load a `docker save` tarball or OCI archive into the node's image store "
                        "at start (repeatable)")
    p.add_argument("--image-dir", metavar="DIR",
                   help="load the image archives (docker save tarballs, OCI archives) dropped into DIR; loaded ones "
                        "move to DIR/loaded, bad ones to DIR/failed with the reason in <file>.error")
    p.add_argument("--sim-count", type=int, default=0, help="run N simulated agents in this process")
    p.add_argument("--node-prefix", default="sim-", help="node name prefix with --sim-count")
    p.add_argument("--sim-first", type=int, default=0, help="number of the first node with --sim-count "
                                                              "(default 0: sim-0, sim-1, ...)")
    p.add_argument("--sim-start-delay", type=float, default=0.5, help="seconds a sim container takes to start")
    p.add_argument("--api-server", default="", help="URL of the gateway pods' service account tokens are requested "
                   "from (TokenRequest); empty: pods with a serviceAccountToken projection cannot start (sim: recorded)")
    p.add_argument("--api-ca-file", default="", help="CA certificate of an HTTPS --api-server")
    p.add_argument("--api-client-cert", default="", help="this node's client certificate for --api-server "
                   "(CN system:node:<node>, O system:nodes; kl up --secure issues it)")
    p.add_argument("--api-client-key", default="", help="its private key")
    p.add_argument("--api-token-file", default="", help="file holding a bearer token for --api-server "
                   "(instead of a client certificate)")
    p.add_argument("--write-through-api", action="store_true",
                   help="write through --api-server as this node (system:node:<name>, RBAC and NodeRestriction "
                        "apply) instead of to etcd; reads and watches stay on etcd (agent/apiwrites.py)")
    p.add_argument("--log-level", default="INFO")
    return p


def sim_node_names(prefix: str, first: int, count: int) -> list[str]:
    """The names of ``count`` simulated nodes: prefix+first, prefix+(first+1), ..."""
    return [f"{prefix}{i}" for i in range(first, first + count)]


def token_source(args: argparse.Namespace) -> tuple[str, str]:
    """("token", value) for a node's own token, ("secret", value) to derive each node's, or ("", "").

    Raises ValueError naming the flag when its file cannot be read.
    """
    if args.agent_secret_file:
        return "secret", _read_secret(args.agent_secret_file, "--agent-secret-file")
    if args.agent_token_file:
        return "token", _read_secret(args.agent_token_file, "--token-file")
    return ("token", os.environ[TOKEN_ENV].strip()) if os.environ.get(TOKEN_ENV, "").strip() else ("", "")


def _read_secret(path: str, flag: str) -> str:
    try:
        return Path(path).read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{flag} {path}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None


def check_api_credentials(args: argparse.Namespace) -> None:
    """ValueError naming the flag when --api-ca-file / --api-client-cert / --api-client-key cannot be used."""
    if args.write_through_api and (not args.api_server or args.runtime == "sim"):
        raise ValueError("--write-through-api needs --api-server and a docker or oci runtime (one node per process)")
    if not args.api_server:
        return
    if not args.api_server.startswith(("http://", "https://")):
        raise ValueError(f"--api-server must be an http:// or https:// URL, not {args.api_server!r}")
    try:
        GatewayConnection(args.api_server, ca_file=Path(args.api_ca_file) if args.api_ca_file else None,
                          client_cert=Path(args.api_client_cert) if args.api_client_cert else None,
                          client_key=Path(args.api_client_key) if args.api_client_key else None)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"--api-ca-file/--api-client-cert/--api-client-key: {getattr(exc, 'strerror', None) or exc}"
                         ) from None


def token_for(source: tuple[str, str], node: str) -> str:
    kind, value = source
    return node_token(value, node) if kind == "secret" else value


def agent_config(args: argparse.Namespace, node: str, token: str) -> AgentConfig:
    host, port = parse_listen(args.listen)
    if args.sim_count and host is not None:
        port = 0  # N agents cannot share one port
    return AgentConfig(
        node_config=NodeConfig(
            name=node, address=args.node_ip, labels=args.labels, taints=args.taints, lease_ttl=args.lease_ttl,
            status_period=args.status_period, cpu=args.cpu, memory=args.memory, max_pods=args.max_pods),
        pod_options=PodOptions(
            node=node, host_ip=args.node_ip, pause_image=args.pause_image, backoff_initial=args.backoff_initial,
            backoff_cap=args.backoff_cap, cluster_dns=args.cluster_dns, cluster_domain=args.cluster_domain,
            root_dir=args.root_dir or (f"/var/lib/kubelite/agent/{node}" if args.runtime in ("docker", "oci") else None)),
        listen_host=host, listen_port=port, token=token, drain_on_exit=args.drain_on_exit,
        eviction_hard=args.eviction_hard, pressure_transition_period=args.eviction_pressure_transition_period,
        eviction_interval=args.eviction_monitoring_interval, stats_interval=args.stats_interval,
        proxy_mode=args.proxy_mode or ("iptables" if args.runtime == "docker" else "none"),
        image_dir=args.image_dir,
        api_server=args.api_server if args.runtime != "sim" else "", api_ca_file=args.api_ca_file,
        api_client_cert=args.api_client_cert, api_client_key=args.api_client_key,
        api_token=_read_secret(args.api_token_file, "--api-token-file") if args.api_token_file else "",
    )


def make_runtime(args: argparse.Namespace, node: str) -> ContainerRuntime:
    if args.runtime == "sim":
        return SimRuntime(start_delay=args.sim_start_delay, node=node)
    if args.runtime == "oci":
        from agent.runtime.oci.cni import CniConfig
        from agent.runtime.oci.runtime import OciRuntime

        root = Path(args.oci_root)
        network = CniConfig(network=args.cni_network, bridge=args.cni_bridge, subnet=args.pod_cidr,
                            ipam_dir=str(root / "cni" / "ipam"))
        limits = LogLimits(max_bytes=args.container_log_max_size, max_files=args.container_log_max_files)
        return OciRuntime(node=node, root=root, runc=args.oci_runtime, network=network, log_limits=limits)
    # Imported here, not at the top: the Docker SDK (docker, requests, urllib3) is about
    # 6.5 MB of RSS that a sim agent never uses (issue 12, target 7: idle footprint).
    from agent.runtime.docker import DockerRuntime

    limits = LogLimits(max_bytes=args.container_log_max_size, max_files=args.container_log_max_files)
    return DockerRuntime(node=node, base_url=args.docker_url, log_limits=limits)


async def run(args: argparse.Namespace) -> int:
    try:
        source = token_source(args)
        host, _ = parse_listen(args.listen)
        if args.api_token_file:
            _read_secret(args.api_token_file, "--api-token-file")  # a user's bad path: one line, below
        check_api_credentials(args)
        if forbidden := forbidden_node_labels(args.labels):  # the kubelet refuses them at start, as NodeRestriction would
            raise ValueError(f"--labels: a node may not set {', '.join(forbidden)}: labels in the kubernetes.io and "
                             "k8s.io namespaces other than the kubelet's own, and node-restriction.kubernetes.io/")
    except (ValueError, argparse.ArgumentTypeError) as exc:  # a user's flag: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if host is not None and not source[1]:
        print(f"error: the agent API needs a token: --token-file FILE, --agent-secret-file FILE or ${TOKEN_ENV} "
              "(or --listen none)", file=sys.stderr)
        return 2
    if args.sim_count:
        if args.runtime != "sim":
            print("error: --sim-count needs --runtime sim", file=sys.stderr)
            return 2
        nodes = sim_node_names(args.node_prefix, args.sim_first, args.sim_count)
        if host is not None and source[0] != "secret":
            print("error: --sim-count agents need --agent-secret-file (one token cannot be every node's) "
                  "or --listen none", file=sys.stderr)
            return 2
    elif args.node:
        nodes = [args.node]
    else:
        print("error: --node is required", file=sys.stderr)
        return 2
    if args.runtime == "oci":
        from agent.runtime.oci.runtime import preflight

        problem = preflight(args.oci_runtime)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
        if args.load_image:
            from agent.runtime.oci.images import ImageStore
            from agent.runtime.base import ImagePullError

            store_of_images = ImageStore(Path(args.oci_root) / "images")
            for archive in args.load_image:
                try:
                    log.info("loaded %s", ", ".join(store_of_images.load_archive(Path(archive))))
                except ImagePullError as exc:
                    print(f"error: --load-image {archive}: {exc}", file=sys.stderr)
                    return 2
    config = etcd_config_from_args(args)
    client = await connect(config)
    # a node with its own identity writes one etcd key itself (its Lease): never inside a batch, where etcd
    # before 3.5.28 would not check that its role allows it (kubelite/etcd/client.py)
    client.batch_txns = not args.write_through_api
    # with --write-through-api (one node per process) the node writes as itself through the gateway
    api = gateway_connection(agent_config(args, nodes[0], token_for(source, nodes[0]))) if args.write_through_api else None
    store = ApiWriteStore(client, api) if api is not None else Store(client)
    # Several agents in one process share one pod informer (one etcd watch), each through its node's view.
    shared = shared_informer(store, nodes=nodes) if len(nodes) > 1 else None
    # ... and one ConfigMap/Secret source (two watches), not two per node.
    # (a node writing through the gateway reads its pods' Secrets there too, as itself: agent/podconfig/apisecrets.py)
    configs = (ConfigSource(store, secrets_api=ApiSecrets(api)) if api is not None
               else ConfigSource(store) if len(nodes) > 1 else None)
    if shared is not None:
        await shared.start()
    if configs is not None:
        await configs.start()
    # ... and one PersistentVolume informer for their local-path reclaimers
    volumes = Informer(store, PERSISTENTVOLUMES) if len(nodes) > 1 else None
    if volumes is not None:
        await volumes.start()
    agents = [
        Agent(agent_config(args, node, token_for(source, node)), store=store, runtime=make_runtime(args, node),
              pod_source=NodeView(shared, node) if shared is not None else None, config_source=configs,
              volume_source=volumes, api=api)
        for node in nodes
    ]
    # the process's one etcd client: its latency is on the first node's /metrics (one per process)
    observe_etcd_requests(client, agents[0].metrics.registry)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    started: list[Agent] = []
    limit = asyncio.Semaphore(20)

    async def start_one(agent: Agent) -> None:
        async with limit:
            try:
                await agent.start()
            except BaseException:
                await agent.stop()  # what did start (runtime, recorder...) is released
                raise
            started.append(agent)

    try:
        starting = asyncio.gather(*(start_one(a) for a in agents))
        stopper = asyncio.ensure_future(stop.wait())
        waiting: list[asyncio.Future[Any]] = [starting, stopper]
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if starting in done:
            starting.result()
            endpoints = [a.api.endpoint for a in started if a.api]
            log.info("%d agent(s) running", len(started), extra={"endpoints": endpoints[:5]})
            settle_heap()
            await stop.wait()
        else:
            starting.cancel()
        stopper.cancel()
    finally:
        await asyncio.gather(*(a.stop() for a in started), return_exceptions=True)
        if shared is not None:
            await shared.stop()
        if configs is not None:
            await configs.stop()
        if volumes is not None:
            await volumes.stop()
        await client.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging("agent", level=args.log_level)
    try:
        return asyncio.run(run(args))
    except ListenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
