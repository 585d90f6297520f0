"""Idle footprint of ``kl up --nodes 2`` (issue 12, target 7): RSS and CPU of an idle cluster.

Runs the real ``kl up --nodes 2`` (its own data dir and a free port), waits for its
banner and two Ready nodes, lets it settle (``--settle`` s: start-up work such as the
first status writes and informer syncs is not idle), then reads ``/proc/<pid>/stat`` and
``/proc/<pid>/status`` of the processes listed in ``<data-dir>/up.json`` (etcd,
controller-manager, gateway, agents) over ``--idle`` seconds:
  - RSS summed over them (target ≤ 250 MB), sampled every second, the last and the peak sample;
  - CPU from the utime+stime deltas over the window, as % of one core (target < 2 %);
  - the same per process, to show the biggest consumer;
  - beside the headline, what the group really occupies, read once at the end of the window: the sum of
    PSS (``/proc/<pid>/smaps_rollup``: a page shared by n processes counts 1/n in each) and, as root, the
    distinct resident pages of the group (``/proc/<pid>/pagemap``: each physical frame counted once, the
    PSS line standing in when the kernel hides frame numbers; the baseline is read, then stopped, before
    the cluster is read, since PSS also divides pages with the baseline's Pythons). RSS counts a shared
    library's resident pages once per process that maps it (libpython, grpc's ``cygrpc``, libcrypto:
    ~30 MB in each Python), so the sum of RSS overstates the RAM the cluster takes; the target is stated
    in RSS and judged on it.

The baseline, measured in the same run and over the same window (started before ``kl up``,
idle alongside it): a bare ``etcd`` on an empty data dir, and per process an idle Python
interpreter that imported that process's entry module (``controllers.controlplane`` for the
gateway and controller-manager, which kl up runs in one process; ``agent.__main__``) and sleeps,
started nothing. Together they
are the floor of this layout — an etcd and a Python per component with its code loaded cannot
cost less — so the cluster's figure is also printed as a ratio to that floor: what the ratio
exceeds 1 by is the cost of the components' own state, connections and loops. (A bare
``python`` is about 11 MB; importing kubelite's core, store and informer, about 50 MB.)

``--runtime sim`` by default; ``--runtime docker`` runs docker agents (needs a Docker Engine;
kl up names them node-1 and node-2 — see case r01 — so the script refuses to start while any
container with the label kubelite.node=node-1 or node-2 exists).

    .venv/bin/python bench/bench_idle.py [--runtime sim|docker] [--idle 30] [--settle 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kubelite.etcd.server import EmbeddedEtcd, free_port  # noqa: E402
from procstat import cpu_seconds, distinct_resident_bytes, pss_bytes, rss_bytes  # noqa: E402  (bench/ is the script's directory)

TARGET_RSS_MB = 250.0  # MB (10^6 bytes), issue 12 target 7
TARGET_CPU_PERCENT = 2.0
ENTRY_MODULES = {"control-plane": "controllers.controlplane", "agent": "agent.__main__"}


def component(name: str) -> str:
    """The ENTRY_MODULES key of a process named in up.json (agents are node-N or sim-nodes-A-B)."""
    return "control-plane" if name == "control-plane" else "agent"


def ready_nodes(server: str) -> int:
    try:
        with urllib.request.urlopen(server + "/api/v1/nodes", timeout=10) as resp:
            doc = json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return 0
    return sum(1 for n in doc.get("items") or []
               if any(c.get("type") == "Ready" and c.get("status") == "True"
                      for c in (n.get("status") or {}).get("conditions") or []))


class Window:
    """CPU deltas and RSS samples of named pids over one measurement window."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
        self.started = time.monotonic()
        self.samples: list[dict[str, int]] = []

    def sample(self) -> None:
        self.samples.append({name: rss_bytes(pid) for name, pid in self.pids.items()})

    def finish(self) -> None:
        self.sample()
        self.elapsed = time.monotonic() - self.started
        self.cpu = {name: 100 * (cpu_seconds(pid) - self.cpu0[name]) / self.elapsed
                    for name, pid in self.pids.items()}
        self.rss = self.samples[-1]

    def peak_rss(self, names: list[str]) -> int:
        return max(sum(v for k, v in s.items() if k in names) for s in self.samples)

    def total_rss(self, names: list[str] | None = None) -> int:
        return sum(v for k, v in self.rss.items() if names is None or k in names)

    def total_cpu(self, names: list[str] | None = None) -> float:
        return sum(v for k, v in self.cpu.items() if names is None or k in names)


class Sharing:
    """PSS per process and the distinct resident bytes of a group of processes, read once."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pss = {name: pss_bytes(pid) for name, pid in pids.items()}
        self.distinct = distinct_resident_bytes(list(pids.values()))

    def total_pss(self, names: list[str]) -> int:
        return sum(self.pss[name] for name in names)


def sharing_lines(cluster: Sharing, floor: Sharing, names: list[str], floor_names: list[str], rss: int) -> list[str]:
    """The report's lines on what the cluster really occupies, beside the RSS sum (the target's figure)."""
    mb = 1e6
    pss = cluster.total_pss(names)
    out = ["  RSS counts a shared library's resident pages once per process that maps it; what the cluster",
           "  really occupies (not the target's measure: the target is the RSS sum above):",
           f"  {'sum of PSS':28s} {pss / mb:7.1f} MB   "
           f"({', '.join(f'{name} {cluster.pss[name] / mb:.1f}' for name in names)}; "
           f"floor {floor.total_pss(floor_names) / mb:.1f} MB)"]
    if cluster.distinct is None or floor.distinct is None:
        out.append(f"  {'distinct resident pages':28s} unreadable (pagemap hides frame numbers: not root); "
                   "the sum of PSS stands in")
    else:
        out.append(f"  {'distinct resident pages':28s} {cluster.distinct / mb:7.1f} MB   "
                   f"(each physical page once over the group; {cluster.distinct / max(rss, 1):.2f} of the RSS sum; "
                   f"floor {floor.distinct / mb:.1f} MB)")
    return out


def stop_baseline(pythons: list[subprocess.Popen[bytes]], etcd: EmbeddedEtcd, loop: asyncio.AbstractEventLoop) -> None:
    for proc in pythons:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)
    loop.run_until_complete(etcd.stop())


def docker_nodes_in_use() -> list[str]:
    out = subprocess.run(["docker", "ps", "-aq", "--filter", "label=kubelite.node=node-1"],
                         capture_output=True, text=True, timeout=30).stdout.split()
    out += subprocess.run(["docker", "ps", "-aq", "--filter", "label=kubelite.node=node-2"],
                          capture_output=True, text=True, timeout=30).stdout.split()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runtime", default="sim", choices=("sim", "docker"))
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of the idle window")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds after Ready before the window")
    parser.add_argument("--secure", action="store_true",
                        help="kl up's default HTTPS mode (else --insecure-http, as the figures before 2026-12-01); "
                             "the script's own plain-HTTP polls are the local owner's loopback requests it still serves")
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args()
    if args.runtime == "docker" and docker_nodes_in_use():
        raise SystemExit("error: containers labelled kubelite.node=node-1/node-2 exist (another docker kl up?); "
                         "not starting a second one on this engine (case r01)")

    tmp = Path(tempfile.mkdtemp(prefix="kubelite-bench-idle-"))
    loop = asyncio.new_event_loop()
    bare_etcd = EmbeddedEtcd(data_dir=tmp / "bare-etcd")
    loop.run_until_complete(bare_etcd.start())
    bare_pythons = {f"python, {key} imported": subprocess.Popen(
        [sys.executable, "-c", f"import {module}, time; time.sleep(100000)"], cwd=REPO, stdin=subprocess.DEVNULL)
        for key, module in ENTRY_MODULES.items()}
    data = tmp / "cluster"
    data.mkdir(mode=0o700)
    server = f"http://127.0.0.1:{free_port()}"
    out = open(tmp / "kl-up.out", "wb")
    up = subprocess.Popen(
        [sys.executable, "-m", "kubelite.cli", "up", "--secure" if args.secure else "--insecure-http", "--runtime", args.runtime, "--nodes", str(args.nodes),
         "--listen", server.removeprefix("http://"), "--data-dir", str(data), "--ready-timeout", str(args.timeout)],
        cwd=REPO, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + args.timeout
        while not (b"kubelite is up" in Path(out.name).read_bytes() and ready_nodes(server) >= args.nodes):
            if up.poll() is not None:
                raise SystemExit(f"kl up exited with {up.returncode}; see {out.name}")
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for kl up; see {out.name}")
            time.sleep(0.2)
        time.sleep(args.settle)  # a measurement choice (skip start-up work), not a wait for a condition
        state = json.loads((data / "up.json").read_text())
        cluster = {"etcd": state["etcd_pid"], **state["processes"]}
        baseline = {"bare etcd": bare_etcd.pid or 0, **{name: proc.pid for name, proc in bare_pythons.items()}}
        window = Window({**cluster, **baseline})
        while time.monotonic() - window.started < args.idle:
            time.sleep(1.0)  # sampling period of the window
            window.sample()
        window.finish()
        if up.poll() is not None:
            raise SystemExit(f"kl up exited during the window; see {out.name}")
        # PSS divides a page among every process mapping it, the baseline's Pythons included (same venv,
        # same libraries): each group is read with the other one gone, the baseline first
        floor_shared = Sharing(baseline)
        stop_baseline(list(bare_pythons.values()), bare_etcd, loop)
        cluster_shared = Sharing(cluster)
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(120)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()
        stop_baseline(list(bare_pythons.values()), bare_etcd, loop)
        loop.close()

    names = list(cluster)
    rss, cpu = window.total_rss(names), window.total_cpu(names)
    floor = ["bare etcd"] + [f"python, {component(name)} imported" for name in names if name != "etcd"]
    floor_rss = sum(window.rss[name] for name in floor)
    floor_cpu = sum(window.cpu[name] for name in floor)
    mb = 1e6
    mode = "--secure" if args.secure else "--insecure-http"
    print(f"kl up --nodes {args.nodes} --runtime {args.runtime} {mode}: idle footprint over {window.elapsed:.0f} s "
          f"({args.settle:g} s after Ready)")
    for name in names:
        print(f"  {name:28s} {window.rss[name] / mb:7.1f} MB RSS  {window.cpu[name]:6.2f} % of a core")
    print(f"  {'cluster total':28s} {rss / mb:7.1f} MB RSS  {cpu:6.2f} % of a core   "
          f"(peak RSS sample {window.peak_rss(names) / mb:.1f} MB; {rss / 2**20:.1f} MiB)")
    print(f"  target                       {TARGET_RSS_MB:7.1f} MB       {TARGET_CPU_PERCENT:6.2f} %   "
          f"ratio {rss / mb / TARGET_RSS_MB:.2f} / {cpu / TARGET_CPU_PERCENT:.2f}")
    print("\n".join(sharing_lines(cluster_shared, floor_shared, names, floor, rss)))
    print("  baseline, same window:")
    for name in baseline:
        print(f"  {name:28s} {window.rss[name] / mb:7.1f} MB RSS  {window.cpu[name]:6.2f} % of a core")
    print(f"  {'floor: etcd + a python each':28s} {floor_rss / mb:7.1f} MB RSS  "
          f"{floor_cpu:6.2f} % of a core   ratio cluster/floor {rss / max(floor_rss, 1):.2f} RSS, "
          f"{cpu / max(floor_cpu, 1e-9):.1f} CPU")


if __name__ == "__main__":
    main()
