"""The chaos harness: kubelite's processes against a (3-member) etcd, the means to kill and
restart them, an API client that remembers what the gateway acknowledged, and the checks
every scenario ends with.

- :class:`ChaosCluster` spawns controller-managers, gateways, sim agents (through
  ``tests.chaos.sim_agents`` so their in-memory containers can be inspected) and docker
  agents as ``python -m ...`` subprocesses (own session, log file each), and stops or
  SIGKILLs them; :meth:`ChaosCluster.close` stops everything and removes every container
  of its docker nodes, whatever happened.
- :class:`Api`: HTTP calls to the gateway; :class:`ProbeWriter` writes a Lease every
  ~50 ms and records which writes were acknowledged, so a scenario can tell the time to
  the first successful write after a fault and check that no acknowledged write was lost.
- :func:`problems` / :func:`wait_converged`: the invariants — every Deployment has exactly
  its replicas of its newest template, all Running and Ready on Ready nodes; no pod or
  ReplicaSet without its owner; no pod terminating; every container belongs to a pod bound
  to its node, and every pod runs exactly its containers.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import docker

from kubelite.evictionflags import LOCAL_EVICTION_HARD
from kubelite.agent_auth import node_token
from kubelite.api.resources import DEPLOYMENTS, NODES, PODS, REPLICASETS
from kubelite.bootstrap import ensure_system_namespaces
from kubelite.etcd_client import EtcdConfig, connect
from kubelite.etcd_server import free_port
from kubelite.store import Store
from tests.helpers import wait_for

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "default"
LEASE_TTL = 3  # agents' node leases and the managers' election lease (s)
TOLERATION = 2  # pods leave an unreachable node this long after it is tainted (s)
ETCD_TIMEOUT = 2.0  # every component's per-call etcd deadline (s): a frozen member is left after ~2 of them
AGENT_TOKEN = "chaos-agent-token-" + uuid.uuid4().hex[:8]

# Each component spells the etcd security flags its own way.
ETCD_FLAG_NAMES = {
    "gateway": {"ca": "--etcd-cafile", "cert": "--etcd-certfile", "key": "--etcd-keyfile"},
    "controllers": {"ca": "--etcd-cafile", "cert": "--etcd-certfile", "key": "--etcd-keyfile"},
    "agent": {"ca": "--etcd-cafile", "cert": "--etcd-certfile", "key": "--etcd-keyfile"},
}


@dataclass(frozen=True)
class EtcdAccess:
    """How the processes reach etcd: endpoints, and optionally TLS files and a user."""

    endpoints: tuple[str, ...]
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    user: str | None = None
    password_file: str | None = None

    def flags(self, component: str) -> list[str]:
        names = ETCD_FLAG_NAMES[component]
        flags = ["--etcd-endpoints", ",".join(self.endpoints), "--etcd-timeout", str(ETCD_TIMEOUT)]
        for what, value in (("ca", self.ca_file), ("cert", self.cert_file), ("key", self.key_file)):
            if value:
                flags += [names[what], value]
        if self.user:
            flags += ["--etcd-user", self.user, "--etcd-password-file", str(self.password_file)]
        return flags

    def config(self) -> EtcdConfig:
        password = Path(self.password_file).read_text().strip() if self.password_file else None
        return EtcdConfig(endpoints=self.endpoints, timeout=ETCD_TIMEOUT, ca_file=self.ca_file,
                          cert_file=self.cert_file, key_file=self.key_file, username=self.user, password=password)


@dataclass
class Proc:
    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    inspect_url: str | None = None  # sim agents: where their containers are listed
    nodes: tuple[str, ...] = ()  # agents: the nodes this process runs
    docker: bool = False  # agents: their containers are docker containers

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child holds it; closed here right after
        try:
            self.popen = subprocess.Popen(self.argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                          env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
        finally:
            log.close()

    def kill(self) -> None:
        if self.alive:
            assert self.popen is not None
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)

    def stop(self, grace: float = 10.0) -> None:
        if not self.alive:
            return
        assert self.popen is not None
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class ChaosCluster:
    """Processes of one scenario. ``close()`` always runs (the fixture's finally)."""

    def __init__(self, access: EtcdAccess, tmp: Path, docker_client: docker.DockerClient | None = None) -> None:
        self.access = access
        self.tmp = tmp
        self.docker = docker_client
        self.procs: dict[str, Proc] = {}
        self.prefix = f"c{uuid.uuid4().hex[:5]}-"  # node names unique to this test: containers never collide
        tmp.mkdir(parents=True, exist_ok=True)
        self.token_file = tmp / "agent-token"
        self.token_file.write_text(AGENT_TOKEN + "\n")
        self.store: Store | None = None
        self.gateway_url = ""

    # -- processes --------------------------------------------------------------

    def spawn(self, name: str, argv: list[str], **extra: Any) -> Proc:
        proc = Proc(name, [sys.executable, *argv], self.tmp / f"{name}.log", **extra)
        proc.start()
        self.procs[name] = proc
        return proc

    def start_manager(self, identity: str, *extra: str) -> Proc:
        return self.spawn(identity, [
            "-m", "controllers", *self.access.flags("controllers"), "--id", identity, "--listen", "",
            "--lease-ttl", str(LEASE_TTL), "--toleration-seconds", str(TOLERATION),
            "--node-monitor-grace-period", "1", *extra])

    def start_gateway(self, name: str = "gateway", *extra: str, port: int | None = None) -> Proc:
        port = port or free_port()
        scheme = "https" if "--tls-cert" in extra else "http"
        self.gateway_url = f"{scheme}://127.0.0.1:{port}"
        return self.spawn(name, ["-m", "kubelite.gateway", *self.access.flags("gateway"),
                                 "--listen", f"127.0.0.1:{port}", "--agent-secret-file", str(self.token_file),
                                 "--bookmark-interval", "1", *extra])

    def start_sim_agents(self, name: str, count: int, *extra: str,
                         access: EtcdAccess | None = None) -> tuple[Proc, list[str]]:
        """``count`` sim agents in one process; their node names."""
        port = free_port()
        prefix = f"{self.prefix}{name}-"
        proc = self.spawn(name, [
            "-m", "tests.chaos.sim_agents", "--inspect-port", str(port), "--runtime", "sim",
            "--sim-count", str(count), "--node-prefix", prefix, *(access or self.access).flags("agent"),
            "--listen", "127.0.0.1:0", "--agent-secret-file", str(self.token_file),
            "--lease-ttl", str(LEASE_TTL), "--status-period", "5", "--sim-start-delay", "0", *extra,
        ], inspect_url=f"http://127.0.0.1:{port}/containers", nodes=tuple(f"{prefix}{i}" for i in range(count)))
        return proc, list(proc.nodes)

    def start_docker_agent(self, name: str, *, access: EtcdAccess | None = None) -> tuple[Proc, str]:
        """One docker agent (real containers); its node name."""
        node = f"{self.prefix}{name}"
        proc = self.spawn(name, [
            "-m", "agent", "--node", node, "--runtime", "docker", *(access or self.access).flags("agent"),
            "--listen", "127.0.0.1:0", "--token-file", str(self.node_token_file(node)), "--lease-ttl", str(LEASE_TTL),
            "--status-period", "5", "--max-pods", "20", "--eviction-hard", LOCAL_EVICTION_HARD,
        ], nodes=(node,), docker=True)
        return proc, node

    def node_token_file(self, node: str) -> Path:
        """This node's own agent token (the gateway derives it from the secret in ``token_file``)."""
        path = self.tmp / f"{node}.token"
        path.write_text(node_token(AGENT_TOKEN, node) + "\n")
        return path

    def restart(self, name: str) -> Proc:
        proc = self.procs[name]
        proc.stop()
        proc.start()
        return proc

    def check_alive(self, *names: str) -> None:
        for name in names or tuple(self.procs):
            proc = self.procs[name]
            if not proc.alive:
                raise AssertionError(f"{name} exited ({proc.popen and proc.popen.returncode}):\n{proc.log_tail()}")

    async def connect_store(self) -> Store:
        if self.store is None:
            client = await connect(self.access.config())
            self.store = Store(client)
            await wait_for(lambda: _answers(self.store), 30, message="etcd answers")  # type: ignore[arg-type]
        return self.store

    async def wait_ready(self, nodes: Sequence[str], timeout: float = 60.0) -> None:
        """The gateway answers, every node in ``nodes`` is Ready, a manager leads."""
        store = await self.connect_store()
        async with aiohttp.ClientSession() as http:
            async def gateway_ready() -> bool:
                async with http.get(f"{self.gateway_url}/readyz", ssl=False) as response:
                    return response.status == 200
            await wait_for(gateway_ready, timeout, 0.1, message="gateway /readyz",
                           ignore=(aiohttp.ClientError,))
        await wait_for(lambda: _all_ready(store, nodes), timeout, 0.2, message=f"nodes Ready: {list(nodes)}")
        await wait_for(lambda: leader(store), timeout, 0.1, message="a controller-manager leads")

    # -- containers ---------------------------------------------------------------

    async def containers(self) -> tuple[list[dict[str, Any]], set[str]]:
        """Every container of this cluster's agents — sim (inspected in live agent processes) and
        docker (by node label, whether the agent lives or not) — and the nodes so observed."""
        found: list[dict[str, Any]] = []
        observed: set[str] = set()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            for proc in self.procs.values():
                if proc.inspect_url and proc.alive:
                    async with http.get(proc.inspect_url) as response:
                        found += await response.json()
                    observed.update(proc.nodes)
        found += await asyncio.to_thread(self._docker_containers)
        observed.update(self.docker_nodes())
        return found, observed

    def docker_nodes(self) -> list[str]:
        return [n for p in self.procs.values() if p.docker for n in p.nodes]

    def _docker_containers(self) -> list[dict[str, Any]]:
        if self.docker is None:
            return []
        found = []
        for node in self.docker_nodes():
            # The low-level list: one call, no per-container inspect that races removals.
            for c in self.docker.api.containers(all=True, filters={"label": f"kubelite.node={node}"}):
                labels = c.get("Labels") or {}
                found.append({"node": node, "id": c["Id"], "state": c["State"],
                              "pod_uid": labels.get("kubelite.pod.uid", ""),
                              "namespace": labels.get("kubelite.pod.namespace", ""),
                              "pod": labels.get("kubelite.pod.name", ""),
                              "container": labels.get("kubelite.container.name", "")})
        return found

    async def close(self) -> None:
        for proc in reversed(list(self.procs.values())):
            proc.stop()
        if self.docker is not None:
            nodes = self.docker_nodes()
            def remove() -> None:
                assert self.docker is not None
                for node in nodes:
                    for c in self.docker.api.containers(all=True, filters={"label": f"kubelite.node={node}"}):
                        try:
                            self.docker.api.remove_container(c["Id"], force=True)
                        except docker.errors.NotFound:
                            pass  # its agent removed it meanwhile
            await asyncio.to_thread(remove)
        if self.store is not None:
            await self.store.client.close()


async def _answers(store: Store) -> bool:
    try:
        await ensure_system_namespaces(store)
        return True
    except Exception:  # noqa: BLE001 - not yet: the cluster is still electing
        return False


async def _all_ready(store: Store, nodes: Sequence[str]) -> bool:
    ready = {n.name for n in (await store.list(NODES)).items if node_ready(n)}
    return set(nodes) <= ready


def node_ready(node: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (node.status and node.status.conditions) or [])


async def leader(store: Store) -> str | None:
    from kubelite.api.resources import LEASES
    try:
        lease = await store.get(LEASES, "kubelite-controller-manager", "kube-system")
    except Exception:  # noqa: BLE001 - nobody leads right now
        return None
    return lease.spec.holder_identity if lease.spec else None


# -- objects -------------------------------------------------------------------------


def deployment_doc(name: str, replicas: int, version: str = "v1", *, max_surge: str | int = "25%",
                   max_unavailable: str | int = "25%", min_ready_seconds: int = 0) -> dict[str, Any]:
    """A Deployment of sleepers (real with docker agents); ``version`` is an env var: change it to roll."""
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas, "selector": {"matchLabels": {"app": name}}, "minReadySeconds": min_ready_seconds,
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
                    "name": "app", "image": "kubelite/demo:latest", "imagePullPolicy": "Never",
                    "command": ["sleep", "3600"], "env": [{"name": "VERSION", "value": version}]}]},
            },
        },
    }


DEPLOYMENTS_PATH = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments"
LEASES_PATH = f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases"
MERGE_PATCH = "application/merge-patch+json"


class Api:
    """Gateway calls that never raise on HTTP errors: (status, document); status 0 = no answer."""

    def __init__(self, url: str, *, token: str | None = None, ca_file: str | None = None,
                 timeout: float = 10.0) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.ssl: Any = None
        if ca_file:
            import ssl
            self.ssl = ssl.create_default_context(cafile=ca_file)
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.session: aiohttp.ClientSession | None = None
        self.server_errors: list[tuple[int, str, str]] = []  # 5xx seen: (code, method path, message)

    async def __aenter__(self) -> Api:
        self.session = aiohttp.ClientSession(self.url, timeout=self.timeout, headers=self.headers,
                                             connector=aiohttp.TCPConnector(limit=200, ssl=self.ssl))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.session is not None
        await self.session.close()

    async def call(self, method: str, path: str, body: Any = None, *,
                   content_type: str = "application/json") -> tuple[int, Any]:
        assert self.session is not None
        kwargs: dict[str, Any] = {}
        if body is not None:
            import json
            kwargs = {"data": json.dumps(body), "headers": {"Content-Type": content_type}}
        try:
            async with self.session.request(method, path, **kwargs) as response:
                try:
                    doc = await response.json(content_type=None)
                except ValueError:
                    doc = None
                if response.status >= 500:
                    message = doc.get("message", "") if isinstance(doc, dict) else ""
                    self.server_errors.append((response.status, f"{method} {path}", message))
                return response.status, doc
        except (aiohttp.ClientError, TimeoutError, ConnectionError):
            return 0, None

    async def create_deployment(self, name: str, replicas: int, version: str = "v1", **kw: Any) -> tuple[int, Any]:
        return await self.call("POST", DEPLOYMENTS_PATH, deployment_doc(name, replicas, version, **kw))

    async def scale(self, name: str, replicas: int) -> tuple[int, Any]:
        return await self.call("PATCH", f"{DEPLOYMENTS_PATH}/{name}", {"spec": {"replicas": replicas}},
                               content_type=MERGE_PATCH)

    async def roll(self, name: str, version: str) -> tuple[int, Any]:
        patch = {"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "kubelite/demo:latest", "imagePullPolicy": "Never", "command": ["sleep", "3600"],
             "env": [{"name": "VERSION", "value": version}]}]}}}}
        return await self.call("PATCH", f"{DEPLOYMENTS_PATH}/{name}", patch, content_type=MERGE_PATCH)

    async def until_ok(self, call: Callable[[], Any], timeout: float = 30.0, *, what: str) -> Any:
        """Repeat a write until the gateway acknowledges it (2xx). A 409 AlreadyExists counts for a
        create whose earlier attempt landed without an answer."""
        last: tuple[int, Any] = (0, None)

        async def attempt() -> bool:
            nonlocal last
            last = await call()
            reason = last[1].get("reason") if isinstance(last[1], dict) else None
            return 200 <= last[0] < 300 or reason == "AlreadyExists"
        try:
            await wait_for(attempt, timeout, 0.1)
        except AssertionError:
            raise AssertionError(f"{what} not acknowledged in {timeout}s: last answer {last}") from None
        return last[1]


@dataclass
class ProbeWriter:
    """Writes a Lease every ~50 ms through the gateway; records each attempt."""

    api: Api
    prefix: str = "probe"
    attempts: list[tuple[float, float, bool]] = field(default_factory=list)  # (started, ended, acknowledged)
    acknowledged: set[str] = field(default_factory=set)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        n = 0
        while True:
            name = f"{self.prefix}-{n}"
            started = time.monotonic()
            status, doc = await self.api.call("POST", LEASES_PATH, {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name},
                "spec": {"holderIdentity": "chaos"}})
            reason = doc.get("reason") if isinstance(doc, dict) else None
            ok = status == 201 or reason == "AlreadyExists"  # AlreadyExists: an unanswered try landed
            self.attempts.append((started, time.monotonic(), ok))
            if ok:
                self.acknowledged.add(name)
                n += 1
            await asyncio.sleep(0.05)

    def first_success_after(self, fault_at: float) -> float | None:
        """Seconds from the fault to the first acknowledged write sent after it."""
        ends = [end for start, end, ok in self.attempts if ok and start >= fault_at]
        return min(ends) - fault_at if ends else None

    async def wait_success_after(self, fault_at: float, timeout: float = 30.0) -> float:
        await wait_for(lambda: self.first_success_after(fault_at) is not None, timeout, 0.05,
                       message="a write acknowledged after the fault")
        value = self.first_success_after(fault_at)
        assert value is not None
        return value

    async def check_present(self, store: Store) -> None:
        from kubelite.api.resources import LEASES
        stored = {item.name for item in (await store.list(LEASES, NAMESPACE)).items}
        lost = self.acknowledged - stored
        assert not lost, f"acknowledged writes lost: {sorted(lost)[:10]}"


# -- invariants ------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    replicas: int
    version: str = "v1"


def _version(template_spec: Any) -> str | None:
    for env in template_spec.containers[0].env or []:
        if env.name == "VERSION":
            return str(env.value)
    return None


def _controller_uid(obj: Any) -> str | None:
    for ref in obj.metadata.owner_references or []:
        if ref.controller:
            return str(ref.uid)
    return None


def _pod_ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status and pod.status.conditions) or [])


async def problems(store: Store, expected: dict[str, Expect],
                   containers: tuple[list[dict[str, Any]], set[str]] | None = None) -> list[str]:
    """Everything that differs from a converged cluster; empty when it converged."""
    found: list[str] = []
    deployments = {d.name: d for d in (await store.list(DEPLOYMENTS, NAMESPACE)).items}
    replicasets = (await store.list(REPLICASETS, NAMESPACE)).items
    pods = (await store.list(PODS, NAMESPACE)).items
    nodes = {n.name: n for n in (await store.list(NODES)).items}
    deployment_uids = {d.metadata.uid: d for d in deployments.values()}
    rs_uids = {rs.metadata.uid: rs for rs in replicasets}
    found += [f"unexpected deployment {name}" for name in deployments if name not in expected]
    for name, want in expected.items():
        d = deployments.get(name)
        if d is None:
            found.append(f"deployment {name} missing")
            continue
        if d.spec.replicas != want.replicas or _version(d.spec.template.spec) != want.version:
            found.append(f"deployment {name}: spec says {d.spec.replicas}×{_version(d.spec.template.spec)}, "
                         f"acknowledged {want.replicas}×{want.version}")
        s = d.status
        if not (s and s.observed_generation == d.metadata.generation and s.replicas == want.replicas
                and (s.updated_replicas or 0) == want.replicas and (s.available_replicas or 0) == want.replicas
                and (s.ready_replicas or 0) == want.replicas):
            found.append(f"deployment {name}: status not converged: {s and s.to_dict()}")
    for rs in replicasets:
        owner = deployment_uids.get(_controller_uid(rs))
        if owner is None:
            found.append(f"orphan replicaset {rs.name}")
            continue
        wanted = expected.get(owner.name)
        current = wanted is not None and _version(rs.spec.template.spec) == wanted.version
        if not current and (rs.spec.replicas or (rs.status and rs.status.replicas)):
            found.append(f"old replicaset {rs.name} still has replicas")
    per_deployment: dict[str, list[Any]] = {name: [] for name in expected}
    for pod in pods:
        rs = rs_uids.get(_controller_uid(pod))
        owner = deployment_uids.get(_controller_uid(rs)) if rs is not None else None
        if owner is None:
            found.append(f"orphan pod {pod.name}")
            continue
        if pod.metadata.deletion_timestamp is not None:
            found.append(f"pod {pod.name} terminating")
            continue
        per_deployment.setdefault(owner.name, []).append(pod)
        node = nodes.get(pod.spec.node_name or "")
        phase = pod.status.phase if pod.status else None
        if node is None or not node_ready(node):
            found.append(f"pod {pod.name} on {pod.spec.node_name or 'no node'} (not a Ready node)")
        elif phase != "Running" or not _pod_ready(pod):
            found.append(f"pod {pod.name} on {pod.spec.node_name}: {phase}, ready={_pod_ready(pod)}")
        wanted = expected.get(owner.name)
        if wanted is not None and _version(pod.spec) != wanted.version:
            found.append(f"pod {pod.name} runs {_version(pod.spec)}, not {wanted.version}")
    for name, want in expected.items():
        have = len(per_deployment.get(name, []))
        if have != want.replicas:
            found.append(f"deployment {name}: {have} pods, want exactly {want.replicas}")
    if containers is not None:
        found += container_problems(pods, *containers)
    return found


def container_problems(pods: list[Any], containers: list[dict[str, Any]], observed: set[str]) -> list[str]:
    """Each container belongs to a live pod bound to its node; each pod on an ``observed`` node runs
    exactly its sandbox and app containers."""
    found: list[str] = []
    bound = {(p.spec.node_name, p.metadata.uid): p for p in pods if p.metadata.deletion_timestamp is None}
    running: dict[tuple[str, str], list[str]] = {}
    for c in containers:
        key = (c["node"], c["pod_uid"])
        if key not in bound:
            found.append(f"orphan container {c['container']} of pod {c['pod']} ({c['state']}) on {c['node']}")
        elif c["state"] == "running":
            running.setdefault(key, []).append(c["container"])
    for (node, uid), pod in bound.items():
        if node not in observed:
            continue  # a dead sim agent's containers died with it; its pods fail the node check
        want = sorted(["POD", *(c.name for c in pod.spec.containers)])
        if sorted(running.get((node, uid), [])) != want:
            found.append(f"pod {pod.name} on {node} runs {sorted(running.get((node, uid), []))}, want {want}")
    return found


async def wait_converged(cluster: ChaosCluster, expected: dict[str, Expect], timeout: float,
                         *, containers: bool = True) -> float:
    """Wait until :func:`problems` finds none; seconds it took. On timeout, the problems left."""
    store = await cluster.connect_store()
    started = time.monotonic()
    last: list[str] = []

    async def converged() -> bool:
        nonlocal last
        try:
            seen = await cluster.containers() if containers else None
            last = await problems(store, expected, seen)
        except Exception as exc:  # noqa: BLE001 - etcd may still be electing: not converged yet
            last = [f"could not read: {exc!r}"]
        return not last

    try:
        await wait_for(converged, timeout, 0.3)
    except AssertionError:
        raise AssertionError(f"not converged after {timeout}s: {last[:12]} ({len(last)} problems)") from None
    return time.monotonic() - started


def report(scenario: str, **figures: float | str | None) -> None:
    """One line per scenario with its recovery figures (collected in docs/chaos.md)."""
    parts = [f"{k}={v:.2f}s" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()]
    print(f"\n[chaos] {scenario}: " + " ".join(parts), flush=True)
