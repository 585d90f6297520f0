"""``kl up``: a whole local cluster as child processes of one command.

On the docker runtime it first builds the pod sandbox image (``kubelite/demo``)
when the engine lacks it (:mod:`kubelite.images`, saying so). Then it starts,
in order: the embedded etcd (unless ``--etcd-endpoints``), the control plane
(the gateway and one controller-manager in one process, ``control-plane``:
``controllers.controlplane``) and the agents of N nodes (``node-1``…), each a
``python -m ...`` process logging to ``<data-dir>/logs/<name>.log``. Docker
nodes get one agent process each (``node-K``); simulated nodes share one agent
process per ``sim_nodes_per_process`` nodes (``sim-nodes-1-250``, ...: a
hundred Python processes would cost gigabytes and a minute of start-up), which
derives each node's API token from the agent secret; 1 gives the per-node
processes again. Waits
until the gateway is ready and every node is Ready, optionally applies the
demo, and then supervises its children: one that exits (etcd included) is
restarted with back-off and the reason is printed (``up_supervise``). Only
SIGINT/SIGTERM stops everything, in reverse order; then it removes the
containers the agents left (labels ``kubelite.node=<node>`` and this cluster's
``kubelite.cluster.uid``) unless ``keep`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubelite.node.evictionflags import LOCAL_EVICTION_HARD, parse_eviction_hard
from kubelite.auth import satokens
from kubelite.node import logcaps
from kubelite.cli import kubeconfig, up_secure
from kubelite.cli.client import ApiClient, Connection
from kubelite.cli.demo import demo_manifest
from kubelite.cli.errors import ApiStatusError, CliError, ServerUnreachable
from kubelite.cli.processes import ManagedProcess
from kubelite.cli.up_secure import EtcdFiles, SecureSetup
from kubelite.cli.up_supervise import Child, Supervisor
from kubelite.cli.up_support import (
    can_bind,
    cluster_dns_ip,
    default_data_dir,
    docker_bridge_gateway,
    detect_runtime,
    oci_demo_archive,
    oci_dns_address,
    oci_node_network,
    ensure_docker_images,
    ensure_secret_file,
    ensure_token,
    etcd_ports,
    kl_command,
    remove_containers,
    sim_node_groups,
    split_host_port,
    write_node_tokens,
)
from kubelite.etcd.compaction import parse_interval
from kubelite.etcd.encryption import generated_config, load_config
from kubelite.etcd.server import EmbeddedEtcd, EtcdTLSFiles, free_port
from kubelite.util import clock
from kubelite.util.listen import is_loopback
from kubelite.util.supervise import cancel_and_wait

CONTROL_PLANE = "control-plane"  # the process (and log) name of the gateway and controller-manager


@dataclass
class UpOptions:
    nodes: int = 2
    runtime: str = "auto"
    listen: str = "127.0.0.1:8080"
    data_dir: Path = field(default_factory=lambda: default_data_dir())
    etcd_endpoints: str | None = None
    keep: bool = False
    demo: bool = False
    ready_timeout: float = 90.0
    python: str = sys.executable
    etcd_compaction_interval: str = "5m"  # passed to the gateway and the controller-manager
    container_log_max_size: str = "10Mi"  # passed to every agent (log rotation)
    container_log_max_files: int = 5
    eviction_hard: str = LOCAL_EVICTION_HARD  # passed to every agent (disk-pressure eviction)
    sim_nodes_per_process: int = 250  # sim runtime: nodes hosted by one agent process (1: a process per node)
    node_lease_duration: int = 40  # every agent's --lease-ttl (the kubelet's nodeLeaseDurationSeconds)
    service_cluster_ip_range: str = "10.96.0.0/12"  # passed to the gateway; the cluster DNS gets its 10th address
    encryption_provider_config: Path | None = None  # None: generated in the data dir (Secrets encrypted at rest)
    prometheus: bool = False  # write <data-dir>/prometheus.yml scraping every process (up_prometheus)
    secure: bool = True  # HTTPS, client certificates and RBAC (up_secure); False: plain HTTP (--insecure-http)
    audit_policy_file: Path | None = None  # None: the gateway's default (every write at Metadata)


class Cluster:
    """The processes of one ``kl up``; ``start()`` then ``stop()`` (always, in a finally)."""

    def __init__(self, opts: UpOptions, say: Callable[[str], None]) -> None:
        self.opts = opts
        self.say = say
        self.data_dir = opts.data_dir.expanduser().resolve()
        self.logs = self.data_dir / "logs"
        self.runtime = "sim"
        self.etcd: EmbeddedEtcd | None = None
        self.endpoints = opts.etcd_endpoints or ""
        self.processes: list[ManagedProcess] = []
        self.agents: list[str] = [f"node-{i}" for i in range(1, opts.nodes + 1)]
        self.agent_processes: set[str] = set()  # names of the processes hosting nodes
        self.server = f"http://{opts.listen}"
        self.token = ""
        self.cm_url = ""
        self.cluster_uid = ""  # the kube-system Namespace uid, once the gateway answered
        self._lock_file: Any = None
        self.secure: SecureSetup | None = None
        self.etcd_files: EtcdFiles | None = None  # the embedded etcd's TLS (secure mode)

    # -- start -------------------------------------------------------------

    async def start(self) -> None:
        self._prepare()
        self.runtime, why = detect_runtime(self.opts.runtime)
        self.say(f"runtime: {self.runtime} — {why}")
        if self.runtime == "docker":
            await asyncio.to_thread(ensure_docker_images, self.say)
        pods_reach_gateway = None  # the address pods reach the gateway at (the kubernetes Service's endpoint)
        if self.secure is not None and self.runtime == "docker":
            # HTTPS only: a plain-HTTP gateway is unauthenticated and stays on loopback, out of pods' reach
            pods_reach_gateway = await asyncio.to_thread(docker_bridge_gateway)
            self.secure = up_secure.prepare(self.data_dir, split_host_port(self.opts.listen)[0],
                                            extra_hosts=(*self._service_ip(), pods_reach_gateway))
        oci_archive = await asyncio.to_thread(oci_demo_archive, self.data_dir, self.say) if self.runtime == "oci" else None
        if not self.shared_sim_processes or self.opts.prometheus:  # else the shared processes derive them
            write_node_tokens(self.agent_secret_path, self.data_dir / "agent-tokens", self.agents)
        if not self.endpoints:
            client_port, peer_port = etcd_ports(self.data_dir)
            # secure (the default): etcd asks every client for a certificate of its own CA, so no other local
            # user reaches the cluster's state around the gateway (up_secure.etcd_files)
            self.etcd_files = self.secure.etcd_files() if self.secure is not None else None
            files = self.etcd_files
            tls = (EtcdTLSFiles(cert_file=str(files.server_cert), key_file=str(files.server_key),
                                ca_file=str(files.ca_file), peer_cert_file=str(files.peer_cert),
                                peer_key_file=str(files.peer_key)) if files is not None else None)
            self.etcd = EmbeddedEtcd(data_dir=self.data_dir / "etcd", client_port=client_port, peer_port=peer_port,
                                     tls=tls)
            self.say(f"starting etcd on 127.0.0.1:{client_port} (log: {self.etcd.log_path})")
            await self.etcd.start()
            self.endpoints = self.etcd.endpoint
            # etcd's RBAC: a user per docker/oci node, reading all, writing its Lease only (plain: refused if on)
            await up_secure.ensure_etcd_auth(self.endpoints, files, self.agents if self.runtime != "sim" else ())
        py = self.opts.python
        # every process reads etcd directly, so each gets the encryption configuration
        ep = ["--etcd-endpoints", self.endpoints, "--encryption-provider-config", str(self.encryption_path),
              "--encryption-provider-config-automatic-reload",  # key rotation without restarts
              *(self.etcd_files.client_flags() if self.etcd_files is not None else [])]
        compaction = ["--etcd-compaction-interval", self.opts.etcd_compaction_interval]
        self.cm_url = f"http://127.0.0.1:{free_port()}"
        # the HPA controller reads metrics.k8s.io through the gateway, as kube's does through kube-apiserver
        metrics_api = ["--metrics-api-server", self.server]
        if self.token:
            metrics_api += ["--metrics-api-token-file", str(self.data_dir / "metrics-api-token")]
            if self.secure is not None:
                metrics_api += ["--metrics-api-ca-file", str(self.secure.ca_file)]
            fd = os.open(self.data_dir / "metrics-api-token", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:  # the admin token: readable by this user only, as tokens.csv
                out.write(self.token + "\n")
        # the ServiceAccount admission on every pod writer; kube-root-ca.crt holds the cluster CA (empty on HTTP)
        admission = ["--enable-admission-plugins", "ServiceAccount"]
        root_ca = ["--root-ca-file", str(self.secure.ca_file)] if self.secure is not None else []
        manager = [*ep, *compaction, "--id", "controller-manager-1", "--listen", self.cm_url.removeprefix("http://"),
                   *metrics_api, *admission, *root_ca]
        auth = ["--token-file", str(self.data_dir / "tokens.csv")] if self.token else []
        auth += self.secure.gateway_flags() if self.secure is not None else [
            "--service-account-signing-key-file", str(self.data_dir / "pki" / "sa.key")]
        auth += ["--enable-admission-plugins", "ServiceAccount,NodeRestriction"]  # what a node's credentials may write
        if pods_reach_gateway is not None:
            auth += ["--advertise-address", pods_reach_gateway]
        # the audit log of every write (docs/security.md), rotated at 100 MB, 3 old files kept
        auth += ["--audit-log-path", str(self.audit_log_path), "--audit-log-maxsize", "100", "--audit-log-maxbackup", "3"]
        if self.opts.audit_policy_file is not None:
            auth += ["--audit-policy-file", str(self.opts.audit_policy_file.expanduser().resolve())]
        gateway = [*ep, *compaction, "--listen", self.opts.listen, *auth, "--agent-secret-file",
                   str(self.agent_secret_path), "--service-cluster-ip-range", self.opts.service_cluster_ip_range]
        # one interpreter for both: it halves what the control plane's imports take (controllers/controlplane.py)
        self._spawn(CONTROL_PLANE, [py, "-m", "controllers.controlplane", "--gateway", *gateway,
                                    "--controller-manager", *manager])
        extra = [] if self.opts.keep else ["--drain-on-exit"]
        if self.runtime in ("docker", "oci"):  # cluster DNS, reached by pods through the node proxy (kube-dns's cluster IP)
            dns_ip = cluster_dns_ip(self.opts.service_cluster_ip_range)
            dns_host = docker_bridge_gateway() if self.runtime == "docker" else oci_dns_address()
            self._spawn("dns", [py, "-m", "kubelite.dns", *ep, "--listen", f"{dns_host}:{free_port()}",
                                "--service-ip", dns_ip, "--service-cluster-ip-range", self.opts.service_cluster_ip_range])
            extra += ["--cluster-dns", dns_ip, *(["--proxy-mode", "iptables"] if self.runtime == "oci" else [])]
        extra += ["--container-log-max-size", self.opts.container_log_max_size,
                  "--container-log-max-files", str(self.opts.container_log_max_files),
                  "--eviction-hard", self.opts.eviction_hard, "--lease-ttl", str(self.opts.node_lease_duration)]
        if self.runtime == "sim":
            # Sim containers start at once: a local cluster gains nothing from simulated
            # latency, and a sandbox still "starting" at the next sync is taken for a
            # dead one (SandboxChanged restart loop in the agent as of this writing).
            extra += ["--sim-start-delay", "0"]
        if self.shared_sim_processes:
            for first, count in sim_node_groups(self.opts.nodes, self.opts.sim_nodes_per_process):
                self._spawn(f"sim-nodes-{first}-{first + count - 1}", [
                    py, "-m", "agent", "--runtime", "sim", "--sim-count", str(count), "--node-prefix", "node-",
                    "--sim-first", str(first), *ep, "--listen", "127.0.0.1:0",
                    "--agent-secret-file", str(self.agent_secret_path), *extra], agent=True)
        else:
            for index, node in enumerate(self.agents):
                root = ["--root-dir", str(self.data_dir / "agents" / node)] if self.runtime in ("docker", "oci") else []
                if oci_archive is not None:  # one bridge and pod CIDR per node
                    bridge, cidr, _ = oci_node_network(index + 1)
                    root += ["--oci-root", str(self.data_dir / "oci"), "--load-image", str(oci_archive),
                             "--pod-cidr", cidr, "--cni-bridge", bridge, "--cni-network", f"kubelite-{node}"]
                self._spawn(node, [py, "-m", "agent", "--node", node, "--runtime", self.runtime, *ep, "--listen",
                                   "127.0.0.1:0", "--token-file", str(self.node_token_path(node)), *root, *extra,
                                   *self._api_flags(node), *self._agent_etcd_flags(node)],
                            agent=True)
        self._write_state()
        await self._wait_ready()

    def _service_ip(self) -> tuple[str, ...]:
        """The kubernetes Service's cluster IP (the range's first address), () for a bad range
        (the gateway reports that)."""
        try:
            return (str(ipaddress.IPv4Network(self.opts.service_cluster_ip_range, strict=False).network_address + 1),)
        except ValueError:
            return ()

    def _agent_etcd_flags(self, node: str) -> list[str]:
        """A docker/oci agent's own etcd identity (up_secure.RESTRICTED_NODE_AGENTS); [] otherwise."""
        if self.secure is None or self.etcd_files is None or self.runtime == "sim":
            return []
        return self.secure.agent_etcd_flags(node)

    def _api_flags(self, node: str) -> list[str]:
        """How ``node``'s agent asks the gateway for pods' service account tokens: its URL and, on
        HTTPS, the CA and the node's client certificate (``system:node:<node>``)."""
        flags = ["--api-server", self.server]
        if self.secure is not None:
            cert, key = self.secure.node_credentials(node)
            flags += ["--api-ca-file", str(self.secure.ca_file), "--api-client-cert", str(cert),
                      "--api-client-key", str(key)]
        elif self.token:  # token mode (plain HTTP off loopback): the internal clients' token
            flags += ["--api-token-file", str(self.data_dir / "metrics-api-token")]
        return flags

    def _prepare(self) -> None:
        if self.opts.nodes < 1:
            raise CliError("--nodes must be at least 1")
        if self.opts.node_lease_duration < 1:
            raise CliError("--node-lease-duration must be at least 1 (seconds)")
        if self.opts.sim_nodes_per_process < 1:
            raise CliError("--sim-nodes-per-process must be at least 1")
        if not self.opts.ready_timeout > 0:
            raise CliError(f"--ready-timeout must be a number of seconds above 0, not {self.opts.ready_timeout:g}")
        # the agents' and servers' own flag rules, checked before anything starts
        for flag, value, check in (("--etcd-compaction-interval", self.opts.etcd_compaction_interval, parse_interval),
                                   ("--container-log-max-size", self.opts.container_log_max_size,
                                    logcaps.parse_max_size),
                                   ("--container-log-max-files", self.opts.container_log_max_files,
                                    logcaps.parse_max_files),
                                   ("--eviction-hard", self.opts.eviction_hard, parse_eviction_hard)):
            try:
                check(value)  # type: ignore[arg-type]  # each rule takes its own flag's value
            except ValueError as exc:
                raise CliError(f"{flag}: {exc}") from None
        host, port = split_host_port(self.opts.listen)
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        mode = self.data_dir.stat().st_mode & 0o777
        if mode & 0o077:  # keys, tokens and the admin kubeconfig live here: this user's alone (docs/security.md)
            self.data_dir.chmod(0o700)
            self.say(f"{self.data_dir} was mode {mode:o}: made 0700 (it holds the cluster's keys)")
        self._lock_file = open(self.data_dir / "up.lock", "w")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CliError(f"another `kl up` is using {self.data_dir}: stop it, or pass --data-dir") from None
        if not can_bind(host, port):
            raise CliError(f"{self.opts.listen} is already in use (another gateway?): pass --listen HOST:PORT")
        # On loopback the gateway needs no token, like a local kube-apiserver's
        # insecure port: kubectl works even without a kubeconfig (it tries
        # localhost:8080), and kubectl never sends a bearer token over plain
        # HTTP. Elsewhere the gateway insists on tokens (kl sends them).
        self.token = "" if is_loopback(host) and not self.opts.secure else ensure_token(self.data_dir)
        if self.opts.secure:
            self.secure = up_secure.prepare(self.data_dir, host, extra_hosts=self._service_ip())
            self.server = f"https://{self.opts.listen}"
        else:  # TokenRequest works on HTTP too (pods' token files), signed with a key of the data dir
            satokens.ensure_signing_key(self.data_dir / "pki" / "sa.key")
        ensure_secret_file(self.agent_secret_path)
        if self.opts.encryption_provider_config is None:
            generated_config(self.encryption_path)
        else:
            try:
                load_config(self.encryption_path)
            except ValueError as exc:
                raise CliError(f"--encryption-provider-config {self.encryption_path}: {exc}") from None
        doc = (kubeconfig.with_entry({}, name=kubeconfig.CONTEXT_NAME, server=self.server, token=None,
                                     ca_pem=self.secure.ca_pem, client_cert=self.secure.admin)
               if self.secure is not None else
               kubeconfig.with_entry({}, name=kubeconfig.CONTEXT_NAME, server=self.server, token=self.token or None))
        kubeconfig.write(self.kubeconfig_path, doc)

    @property
    def audit_log_path(self) -> Path:
        return self.data_dir / "audit.log"

    @property
    def shared_sim_processes(self) -> bool:
        """Whether simulated nodes share agent processes (else one process, with its own token, per node)."""
        return self.runtime == "sim" and self.opts.sim_nodes_per_process > 1

    @property
    def encryption_path(self) -> Path:
        chosen = self.opts.encryption_provider_config
        return chosen.expanduser().resolve() if chosen is not None else self.data_dir / "encryption.yaml"

    @property
    def kubeconfig_path(self) -> Path:
        return self.data_dir / "kubeconfig"

    @property
    def agent_secret_path(self) -> Path:
        """The agent secret: only the gateway reads it; each agent gets its node's token."""
        return self.data_dir / "agent-secret"

    def node_token_path(self, node: str) -> Path:
        return self.data_dir / "agent-tokens" / node

    def _spawn(self, name: str, argv: list[str], *, agent: bool = False) -> None:
        proc = ManagedProcess(name, argv, self.logs / f"{name}.log", env={**os.environ, "PYTHONUNBUFFERED": "1"})
        proc.start()
        self.processes.append(proc)
        if agent:
            self.agent_processes.add(name)

    def _write_state(self) -> None:
        etcd_tls = ({"cafile": str(self.etcd_files.ca_file), "certfile": str(self.etcd_files.client_cert),
                     "keyfile": str(self.etcd_files.client_key)} if self.etcd_files is not None else None)
        state = {"pid": os.getpid(), "server": self.server, "etcd": self.endpoints, "etcd_tls": etcd_tls,
                 "etcd_metrics": self.etcd.metrics_address if self.etcd is not None else None,
                 "runtime": self.runtime,
                 "kubeconfig": str(self.kubeconfig_path),
                 "etcd_pid": self.etcd.pid if self.etcd else None, "cluster_uid": self.cluster_uid,
                 "processes": {p.name: p.pid for p in self.processes}}
        # Atomically: readers (scripts, `kl`) must never see a half-written file.
        tmp = self.data_dir / "up.json.tmp"
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.data_dir / "up.json")

    def client(self) -> ApiClient:
        ca = str(self.secure.ca_file) if self.secure is not None else None
        return ApiClient(Connection(server=self.server, token=self.token or None, ca_file=ca), timeout=5)

    async def _wait_ready(self) -> None:
        deadline = clock.Deadline(self.opts.ready_timeout)
        api = self.client()
        manager = ApiClient(Connection(server=self.cm_url), timeout=5)
        self.say(f"waiting for the gateway at {self.server}, the controller-manager and "
                 f"{len(self.agents)} Ready node(s)...")
        waiting_for = "the gateway to answer /readyz"
        while True:
            self.check_children()
            try:
                await asyncio.to_thread(api.get, "/readyz")
                waiting_for = f"the controller-manager to answer {self.cm_url}/healthz"
                await asyncio.to_thread(manager.get, "/healthz")
                waiting_for = "nodes to be Ready"
                nodes = (await asyncio.to_thread(api.get, "/api/v1/nodes")).get("items") or []
                ready = {n["metadata"]["name"] for n in nodes if _node_ready(n)}
                missing = [n for n in self.agents if n not in ready]
                if not missing:
                    kube_system = await asyncio.to_thread(api.get, "/api/v1/namespaces/kube-system")
                    self.cluster_uid = kube_system["metadata"]["uid"]
                    self._write_state()
                    return
                waiting_for = f"nodes to be Ready (not yet: {', '.join(missing)})"
            except (ApiStatusError, ServerUnreachable):
                pass
            if deadline.expired():
                raise CliError(f"timed out after {self.opts.ready_timeout:g} s waiting for {waiting_for}; "
                               f"logs are in {self.logs}")
            await asyncio.sleep(0.2)

    def supervisor(self) -> Supervisor:
        """Restarts children that exit once the cluster is up (see ``up_supervise``)."""
        children = []
        if self.etcd is not None:
            etcd = self.etcd
            children.append(Child("etcd", lambda: etcd.returncode, etcd.start, str(etcd.log_path)))
        for proc in self.processes:
            children.append(Child(proc.name, lambda p=proc: p.returncode,  # type: ignore[misc]
                                  _starter(proc), str(proc.log_path)))
        return Supervisor(children, self.say, on_restart=self._write_state)

    def check_children(self) -> None:
        """During start-up: raise if a child has exited (with the tail of its log)."""
        if self.etcd is not None and not self.etcd.running:
            raise CliError(f"etcd exited; last lines of {self.etcd.log_path}:\n{self.etcd.log_tail(10)}")
        for proc in self.processes:
            if proc.returncode is not None:
                raise CliError(f"{proc.name} exited with code {proc.returncode}; "
                               f"last lines of {proc.log_path}:\n{proc.log_tail()}")

    # -- stop --------------------------------------------------------------

    async def _remove_proxy_rules(self) -> list[str]:
        """The node proxy's iptables rules of agents that could not remove them (killed)."""
        proc = await asyncio.create_subprocess_exec(
            self.opts.python, "-m", "agent.proxy", "--cleanup", "--cluster-uid", self.cluster_uid, *self.agents,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate()
        return [f"node proxy rules: {err.decode().strip()}"] if proc.returncode else []

    async def stop(self) -> list[str]:
        """Stop everything started, newest first; returns problems (empty when clean)."""
        problems: list[str] = []
        agents = [p for p in self.processes if p.name in self.agent_processes]
        others = [p for p in self.processes if p.name not in self.agent_processes]
        # Agents drain their containers on exit (unless --keep): give them time.
        await asyncio.gather(*(self._stop_one(p, problems, grace=30.0) for p in agents))
        if self.runtime == "docker" and not self.opts.keep:
            if self.cluster_uid:
                problems += await asyncio.to_thread(remove_containers, self.agents, self.cluster_uid)
                problems += await self._remove_proxy_rules()
            elif agents:
                self.say("the cluster's identity was never read: containers other than those the agents "
                         "drained are left alone (they may belong to another cluster on this engine)")
        for proc in reversed(others):
            await self._stop_one(proc, problems)
        if self.etcd is not None and self.etcd.running:
            self.say(f"stopping etcd (pid {self.etcd.pid})")
            try:
                await self.etcd.stop()
            except Exception as exc:  # report and go on: the rest must still be released
                problems.append(f"etcd: {exc}")
        with contextlib.suppress(OSError):
            (self.data_dir / "up.json").unlink()
        if self._lock_file is not None:
            self._lock_file.close()
        return problems

    async def _stop_one(self, proc: ManagedProcess, problems: list[str], grace: float = 10.0) -> None:
        if not proc.running:
            return
        self.say(f"stopping {proc.name} (pid {proc.pid})")
        try:
            await proc.stop(grace)
        except Exception as exc:
            problems.append(f"{proc.name}: {exc}")


def _starter(proc: ManagedProcess) -> Callable[[], Any]:
    async def start() -> None:
        proc.start()

    return start


def _node_ready(node: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


async def run(opts: UpOptions, say: Callable[[str], None]) -> int:
    """Start the cluster, wait for SIGINT/SIGTERM (or a child's death), stop it. Exit code."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    cluster = Cluster(opts, say)
    code = 0
    try:
        starting = asyncio.create_task(cluster.start())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            await cancel_and_wait(starting)
            say("interrupted during start-up")
            return 130
        stopping.cancel()
        starting.result()  # raises start-up errors
        if opts.demo:
            await asyncio.to_thread(_apply_demo, cluster, say)
        if opts.prometheus:
            await asyncio.to_thread(_write_prometheus, cluster, say)
        _print_banner(cluster, say)
        supervising = asyncio.create_task(_supervise(cluster.supervisor(), stop))
        try:
            await stop.wait()
        finally:
            await cancel_and_wait(supervising)
        say("stopping...")
    except CliError as exc:
        say(exc.line())
        code = 1
    except Exception as exc:  # e.g. etcd would not start: one message, then clean up
        say(f"error: {exc}")
        code = 1
    finally:
        problems = await cluster.stop()
        for problem in problems:
            say(f"problem while stopping: {problem}")
        if problems:
            code = code or 1
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if code == 0:
        say("stopped: no process left" + ("" if cluster.runtime != "docker" else
                                          " (containers kept: --keep)" if opts.keep else ", no container left"))
    return code


async def _supervise(supervisor: Supervisor, stop: asyncio.Event, period: float = 0.5) -> None:
    while not stop.is_set():
        await supervisor.check()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=period)


def _apply_demo(cluster: Cluster, say: Callable[[str], None]) -> None:
    from kubelite.cli.demo import apply_demo

    apply_demo(cluster.client(), cluster.runtime, demo_manifest(), say)


def _write_prometheus(cluster: Cluster, say: Callable[[str], None]) -> None:
    from kubelite.cli import up_prometheus

    nodes = cluster.client().get("/api/v1/nodes").get("items") or []
    agents = {}
    for node in nodes:
        name, address = node["metadata"]["name"], up_prometheus.agent_address(node)
        if address and name in cluster.agents:
            agents[name] = (address, cluster.node_token_path(name))
    document = up_prometheus.scrape_config(
        etcd=cluster.etcd.metrics_address if cluster.etcd else None,
        gateway=cluster.opts.listen, gateway_token_file=(cluster.data_dir / "metrics-api-token") if cluster.token else None,
        controller_manager=cluster.cm_url.removeprefix("http://"), agents=agents,
        gateway_ca_file=cluster.secure.ca_file if cluster.secure is not None else None)
    path = cluster.data_dir / "prometheus.yml"
    up_prometheus.write(path, document)
    say(f"prometheus scrape configuration: {path} (prometheus --config.file={path})")


def _print_banner(cluster: Cluster, say: Callable[[str], None]) -> None:
    kc = cluster.kubeconfig_path
    kl = kl_command()
    auth = ("  (HTTPS; admin client certificate kubernetes-admin/system:masters, CA in "
            f"{cluster.data_dir / 'pki'}; RBAC)" if cluster.secure is not None else
            f"  (token in {cluster.data_dir / 'tokens.csv'}; kubectl sends tokens over HTTPS only)"
            if cluster.token else "  (no token: the gateway listens on loopback only)")
    try_next = ([f"  {kl} get pods -o wide",
                 f"  {kl} apply -f {demo_manifest('web-v2.yaml')} && {kl} rollout status deployment/web",
                 f"  {kl} rollout undo deployment/web"]
                if cluster.opts.demo else
                [f"  {kl} apply -f {demo_manifest()} && {kl} rollout status deployment/web",
                 f"  {kl} get pods -o wide"])
    agent_logs = "sim-nodes-FIRST-LAST" if cluster.shared_sim_processes else "node-N"
    # plain HTTP on the same port answers this user's loopback clients (kubelite.gateway.tlssniff): a browser
    # has no client certificate, so the dashboard is opened there
    host, port = split_host_port(cluster.opts.listen)
    plain = (f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"
             if cluster.secure is not None and (is_loopback(host) or host in ("0.0.0.0", "")) else "")
    lines = [
        "",
        f"kubelite is up: {len(cluster.agents)} node(s), runtime {cluster.runtime}",
        f"  gateway      {cluster.server}" + (f" (and {plain} for your own user only)" if plain else ""),
        f"  dashboard    {plain or cluster.server}/ui/",
        f"  etcd         {'https://' if cluster.etcd_files else ''}{cluster.endpoints}"
        + (f" (data in {cluster.data_dir / 'etcd'})" if cluster.etcd else ""),
        *([f"               etcdctl --endpoints https://{cluster.endpoints} --cacert {f.ca_file} "
           f"--cert {f.client_cert} --key {f.client_key}"]
          if (f := cluster.etcd_files) is not None else []),
        f"  logs         {cluster.logs}/<{CONTROL_PLANE}|{agent_logs}>.log",
        f"  audit log    {cluster.audit_log_path}",
        f"  kubeconfig   {kc}{auth}",
        "",
        "Use it from another terminal (kubectl works the same way):",
        f"  export KUBECONFIG={kc}",
        f"  {kl} get nodes",
        *try_next,
        "",
        "Ctrl-C stops everything" + ("." if cluster.runtime != "docker" or cluster.opts.keep
                                     else " and removes the pods' containers."),
    ]
    for line in lines:
        say(line)
