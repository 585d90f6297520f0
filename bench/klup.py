"""What the benchmarks of the real ``kl up`` share: starting it (own data dir, a free port, plain HTTP),
waiting on it with a deadline, reading its state (``up.json``: etcd, its children by name), the
controller-manager's reconcile counts, and stopping it with SIGINT as a user does.

kl up keeps its etcd ports in ``<data-dir>/etcd-ports.json`` (chosen free on first use), so a
benchmark needs only its own ``--data-dir`` and ``--listen``.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kubelite.etcd.client import EtcdConfig  # noqa: E402
from kubelite.etcd.server import free_port  # noqa: E402
from kubelite.testing.existing import etcd_access_of  # noqa: E402


def get_json(url: str, timeout: float = 10.0) -> dict | None:
    """The JSON document at ``url``, or None when the server does not answer (yet)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def ready_nodes(server: str) -> int:
    """Nodes with ``Ready=True`` as the gateway lists them (0 while it does not answer)."""
    doc = get_json(server + "/api/v1/nodes") or {}
    return sum(1 for n in doc.get("items") or []
               if any(c.get("type") == "Ready" and c.get("status") == "True"
                      for c in (n.get("status") or {}).get("conditions") or []))


def manager_metrics(pid: int) -> dict[str, float]:
    """The controller-manager's reconcile counts by controller (its ``--listen``, from its command line)."""
    return {name: value for (metric, name), value in process_metrics(pid, "controller_reconcile_total",
                                                                        label="controller").items()}


def process_metrics(pid: int, metric: str, *, label: str = "") -> dict[tuple[str, str], float]:
    """One metric's samples from the ``/metrics`` of a kubelite process (every ``--listen`` of its
    command line: the control plane has the gateway's and the controller-manager's; plain HTTP, which a
    secure gateway answers for its owner on loopback), summed by the value of ``label`` (``""``: one
    sum): ``{(metric, label value): value}``."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    found: dict[tuple[str, str], float] = {}
    for listen in (argv[i + 1] for i, flag in enumerate(argv[:-1]) if flag == "--listen"):
        with urllib.request.urlopen(f"http://{listen}/metrics", timeout=10) as resp:
            text = resp.read().decode()
        for line in text.splitlines():
            if line.startswith(metric + "{") or line.startswith(metric + " "):
                labels, value = line.rsplit(" ", 1)
                key = labels.split(f'{label}="', 1)[1].split('"', 1)[0] if label and f'{label}="' in labels else ""
                found[(metric, key)] = found.get((metric, key), 0.0) + float(value)
    return found


def etcd_calls(pid: int) -> dict[tuple[str, str], float]:
    """A kubelite process's etcd calls so far by (operation, object type): the counts of its
    ``etcd_request_duration_seconds`` histogram (``("create", "pods")``, ``("txn", "")``…)."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    found: dict[tuple[str, str], float] = {}
    for listen in (argv[i + 1] for i, flag in enumerate(argv[:-1]) if flag in ("--listen", "--metrics-listen")):
        try:
            with urllib.request.urlopen(f"http://{listen}/metrics", timeout=10) as resp:
                text = resp.read().decode()
        except OSError:  # a listener that serves no plain-HTTP /metrics
            continue
        for line in text.splitlines():
            if line.startswith("etcd_request_duration_seconds_count{"):
                labels, value = line.rsplit(" ", 1)
                operation = labels.split('operation="', 1)[1].split('"', 1)[0]
                kind = labels.split('type="', 1)[1].split('"', 1)[0]
                found[(operation, kind)] = found.get((operation, kind), 0.0) + float(value)
    return found


class KlUp:
    """The real ``kl up --runtime sim --insecure-http`` as a child: ``start()``, the ``wait_*``, ``stop()``
    (always, in a finally). Its output goes to ``<data-dir>.out`` (kept when it failed).
    ``secure``: kl up's default instead (HTTPS, RBAC, TLS to etcd); the benchmark still reaches the gateway
    over plain HTTP on loopback as the user who ran it (kubelite.gateway.tlssniff), the kubeconfig over HTTPS.
    ``runtime``: kl up's ``--runtime`` (``docker``: kl up's stop removes its pods' containers)."""

    def __init__(self, nodes: int, *, prefix: str, listen: str = "", timeout: float = 600.0,
                 extra: tuple[str, ...] = (), secure: bool = False, runtime: str = "sim") -> None:
        self.secure = secure
        self.runtime = runtime
        self.nodes = nodes
        self.prefix = prefix
        self.data = Path(tempfile.mkdtemp(prefix=prefix))
        self.listen_chosen = not listen
        self.listen = listen or f"127.0.0.1:{free_port()}"
        self.server = f"http://{self.listen}"
        self.kubeconfig = self.data / "kubeconfig"
        self.out_path = self.data.parent / f"{self.data.name}.out"
        self.timeout = timeout
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def start(self) -> None:
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kubelite.cli", "up", "--runtime", self.runtime,
             *(() if self.secure else ("--insecure-http",)), "--nodes", str(self.nodes), "--listen", self.listen, "--data-dir", str(self.data),
             "--ready-timeout", str(self.timeout), *self.extra],
            cwd=REPO, stdout=open(self.out_path, "wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def start_until_up(self, attempts: int = 3) -> None:
        """``start()`` and wait for the banner; when kl up exits because a port it chose free was taken
        meanwhile (another program on a busy machine: "address already in use"), again with a fresh data
        directory and gateway port, up to ``attempts`` times."""
        for attempt in range(1, attempts + 1):
            self.start()
            try:
                self.wait_banner()
                return
            except SystemExit:
                assert self.proc is not None
                if (self.proc.poll() is None or attempt == attempts
                        or b"address already in use" not in self.out_path.read_bytes()):
                    raise
            print(f"  (kl up lost a port race, attempt {attempt}; starting it again)", file=sys.stderr)
            self.stop()
            self.data = Path(tempfile.mkdtemp(prefix=self.prefix))
            self.kubeconfig = self.data / "kubeconfig"
            self.out_path = self.data.parent / f"{self.data.name}.out"
            if self.listen_chosen:
                self.listen = f"127.0.0.1:{free_port()}"
                self.server = f"http://{self.listen}"

    def wait(self, what: str, done: Callable[[], bool], interval: float = 0.1, *,
             timeout: float | None = None) -> float:
        """Poll ``done`` until true (returns the monotonic time it was); exits the benchmark naming
        ``what`` when kl up exits, or ``timeout`` s from now pass (None: the start's timeout from kl up's start)."""
        deadline = self.started + self.timeout if timeout is None else time.monotonic() + timeout
        while not done():
            self.alive()
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {what}; see {self.out_path}")
            time.sleep(interval)
        return time.monotonic()

    def wait_banner(self) -> float:
        return self.wait("kl up's banner", lambda: b"kubelite is up" in self.out_path.read_bytes())

    def wait_ready_nodes(self, interval: float = 0.1) -> float:
        return self.wait(f"{self.nodes} Ready nodes", lambda: ready_nodes(self.server) >= self.nodes, interval)

    def alive(self) -> None:
        """Exits the benchmark when kl up has exited."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise SystemExit(f"kl up exited with {self.proc.returncode}; see {self.out_path}")

    def restarts(self) -> int:
        """How many times kl up restarted a child that exited (etcd included), from its output."""
        return sum(1 for line in self.out_path.read_bytes().splitlines()
                   if line.startswith(b"[kl up] ") and b"restarting it in" in line)

    @property
    def state(self) -> dict:
        return json.loads((self.data / "up.json").read_text())

    def etcd_config(self) -> EtcdConfig:
        """How to reach kl up's own etcd: its endpoints and, when its etcd asks for one, the client
        certificate of its etcd CA (kubelite.testing.existing.etcd_access_of reads up.json)."""
        return etcd_access_of(self.state).config()

    def process_names(self, *, etcd: bool = True) -> dict[str, int]:
        """kl up's children by name (up.json); ``etcd=False`` leaves etcd out (py-spy cannot read it)."""
        state = self.state
        names = dict(state["processes"])
        if etcd and state.get("etcd_pid"):
            names["etcd"] = state["etcd_pid"]
        return names

    def stop(self, *, keep: bool = False) -> None:
        """SIGINT (kl up stops its children in order), SIGKILL after 120 s; removes the data dir
        unless ``keep``, and the output unless kl up failed."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if keep:
            print(f"kl up's data directory (logs in logs/): {self.data}", file=sys.stderr)
        else:
            shutil.rmtree(self.data, ignore_errors=True)
        if self.proc.returncode == 0:
            self.out_path.unlink(missing_ok=True)
        else:
            print(f"kl up's output: {self.out_path}", file=sys.stderr)


def deployment_manifest(name: str, replicas: int, selector: dict[str, str], *,
                        pod_labels: dict[str, str] | None = None, labels: dict[str, str] | None = None) -> str:
    """A YAML document of the benches' Deployment: ``replicas`` pods of ``bench:1`` (10m CPU, 16Mi
    each, no grace period) selected by ``selector``, labelled with it and ``pod_labels``; ``labels`` on
    the Deployment itself."""
    def flow(mapping: dict[str, str]) -> str:
        return "{" + ", ".join(f"{k}: {v}" for k, v in mapping.items()) + "}"
    meta = f"{{name: {name}, namespace: default" + (f", labels: {flow(labels)}}}" if labels else "}")
    return (f"---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {meta}\nspec:\n"
            f"  replicas: {replicas}\n  selector: {{matchLabels: {flow(selector)}}}\n  template:\n"
            f"    metadata: {{labels: {flow({**selector, **(pod_labels or {})})}}}\n    spec:\n"
            "      terminationGracePeriodSeconds: 0\n      containers:\n      - name: app\n        image: bench:1\n"
            "        resources: {requests: {cpu: 10m, memory: 16Mi}}\n")
