"""``kl up --nodes N --runtime sim``: seconds from the gateway up to N Ready nodes, and RSS.

Runs the real ``kl up`` (its own data dir and a free port), polls the gateway
(``/readyz``, then ``/api/v1/nodes``) and prints:
  - seconds from starting ``kl up`` to the gateway answering ``/readyz``,
  - seconds from the gateway up to N Ready nodes (issue 12's target: ≤ 10 s for 100), and
    from starting ``kl up`` to N Ready nodes (a hundred agent processes starting at once
    also slow the gateway's own start: the old mode's cost shows in both),
  - the RSS of ``kl up``'s children (etcd, controller-manager, gateway, agents; target
    < 500 MB for 100 nodes) and of ``kl up`` itself, and the number of agent processes,
  - the CPU the children used over ``--idle`` seconds once the cluster is up,
then stops ``kl up`` with SIGINT and checks that no child outlived it.

The baseline is the old mode, one agent process per simulated node
(``--sim-nodes-per-process 1``), measured in the same run with ``--baseline``
(heavy: about 60 MB and a Python start-up per node), else the figure quoted
in issue 12 (100 nodes: 51 s to Ready, 5.9 GB).

    .venv/bin/python bench/bench_kl_up_nodes.py [--nodes 100] [--per-process 250] [--baseline]
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from klup import KlUp, ready_nodes  # noqa: E402  (bench/ is the script's directory)
from procstat import cpu_seconds, descendants, rss_bytes  # noqa: E402

ISSUE_BASELINE = {"ready_after_gateway": 51.0, "children_rss_mib": 5.9 * 1024}  # issue 12, 100 nodes


def rss_mib(pid: int) -> float:
    return rss_bytes(pid) / (1 << 20)


def is_agent(pid: int) -> bool:
    try:
        return b"-m\0agent\0" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Figures:
    gateway_up: float
    ready_after_gateway: float
    agent_processes: int
    children_rss_mib: float
    kl_up_rss_mib: float
    idle_cpu_percent: float


def run_kl_up(nodes: int, per_process: int, idle: float, timeout: float) -> Figures:
    up = KlUp(nodes, prefix="kubelite-bench-up-", timeout=timeout,
              extra=("--sim-nodes-per-process", str(per_process)))
    server = up.server
    up.start()
    started = up.started
    assert up.proc is not None
    pid = up.proc.pid
    try:
        def wait(what: str, done) -> float:  # noqa: ANN001
            return up.wait(what, done, interval=0.05)

        gateway_at = wait("the gateway", lambda: answers(server + "/readyz"))
        ready_at = wait(f"{nodes} Ready nodes", lambda: ready_nodes(server) >= nodes)
        up.wait_banner()
        kids = descendants(pid)
        cpu_before = sum(cpu_seconds(pid) for pid in kids)
        idle_from = time.monotonic()
        time.sleep(idle)  # a measurement window, not a wait for a condition
        cpu_used = sum(cpu_seconds(pid) for pid in kids) - cpu_before
        figures = Figures(
            gateway_up=gateway_at - started, ready_after_gateway=ready_at - gateway_at,
            agent_processes=sum(1 for pid in kids if is_agent(pid)),
            children_rss_mib=sum(rss_mib(kid) for kid in kids), kl_up_rss_mib=rss_mib(pid),
            idle_cpu_percent=100 * cpu_used / (time.monotonic() - idle_from))
    finally:
        kids = descendants(pid)
        up.stop()
        left = [kid for kid in kids if Path(f"/proc/{kid}").exists()]
        if left:
            print(f"WARNING: processes outlived kl up: {left}", file=sys.stderr)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--per-process", type=int, default=250, help="--sim-nodes-per-process of kl up")
    parser.add_argument("--baseline", action="store_true", help="also run the old mode (a process per node)")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measured once up")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()

    new = run_kl_up(args.nodes, args.per_process, args.idle, args.timeout)
    if args.baseline:
        old = run_kl_up(args.nodes, 1, args.idle, args.timeout)
        old_ready, old_rss, source = old.ready_after_gateway, old.children_rss_mib, "same run"
    else:
        old_ready, old_rss = ISSUE_BASELINE["ready_after_gateway"], ISSUE_BASELINE["children_rss_mib"]
        source = "issue 12, 100 nodes" + ("" if args.nodes == 100 else f" (this run: {args.nodes})")
    print(f"kl up --nodes {args.nodes} --runtime sim --sim-nodes-per-process {args.per_process}")
    print(f"  gateway up after start          {new.gateway_up:7.1f} s")
    print(f"  gateway up → {args.nodes} Ready nodes   {new.ready_after_gateway:7.1f} s   "
          f"(baseline {old_ready:.1f} s, {source}; ratio {new.ready_after_gateway / old_ready:.2f})")
    total = new.gateway_up + new.ready_after_gateway
    old_total = old.gateway_up + old.ready_after_gateway if args.baseline else old_ready  # the issue's 51 s: from start
    print(f"  start → {args.nodes} Ready nodes        {total:7.1f} s   (baseline {old_total:.1f} s; "
          f"ratio {total / old_total:.2f})")
    print(f"  RSS of kl up's children         {new.children_rss_mib:7.0f} MiB "
          f"(baseline {old_rss:.0f} MiB; ratio {new.children_rss_mib / old_rss:.3f}); kl up itself "
          f"{new.kl_up_rss_mib:.0f} MiB")
    print(f"  agent processes                 {new.agent_processes:7d}")
    print(f"  idle CPU of the children        {new.idle_cpu_percent:7.1f} % of a core over {args.idle:g} s")
    if args.baseline:
        print(f"  baseline: {old.agent_processes} agent processes, idle CPU {old.idle_cpu_percent:.1f} %, "
              f"gateway up after {old.gateway_up:.1f} s")


if __name__ == "__main__":
    main()
