"""oci vs docker runtime: pod bound → Running latency for N pods on each, in the same run, plus the
oci runtime's idle memory per running pod (its supervisor) and a leak count (netns, veths, iptables rules) around them.

    .venv/bin/python bench/bench_oci.py [--pods 50]

Starts an embedded etcd and two agent processes, one ``--runtime oci`` (CNI bridge ``kloci1``,
10.244.251.0/24, the demo image loaded from a ``docker save`` tarball) and one ``--runtime docker``.
For each it creates N pods already bound to its node at once and takes each pod's latency from its
creation to the watch event that first reports phase Running (``bench_agent.run_pods``). With the
oci pods running it sums the RSS of the per-container supervisors (/proc). Everything it creates is removed at the end; the leak count is taken after the
oci pods were deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_agent import IMAGE, REPO, delete_all, docker, percentile, proc_rss_mib, run_pods  # noqa: E402

from kubelite.api.resources import NODES  # noqa: E402
from kubelite.client.bootstrap import ensure_system_namespaces  # noqa: E402
from kubelite.etcd.client import EtcdConfig, connect  # noqa: E402
from kubelite.etcd.server import EmbeddedEtcd  # noqa: E402
from kubelite.node.evictionflags import LOCAL_EVICTION_HARD  # noqa: E402
from kubelite.storage.store import Store  # noqa: E402

NETWORK, BRIDGE, SUBNET = "kloci-bench", "kloci1", "10.244.251.0/24"


def sh(command: str) -> str:
    return subprocess.run(command, shell=True, capture_output=True, text=True, check=False).stdout  # noqa: S602


def leftovers() -> dict[str, int]:
    return {"iptables": sum(NETWORK in line or "CNI-DN-" in line for line in sh("iptables-save").splitlines()),
            "netns": sum(line.startswith("kl-") for line in sh("ip netns list").splitlines()),
            "veth": sum(f"master {BRIDGE}" in line for line in sh("ip -o link").splitlines())}


def oci_process_rss(oci_root: Path) -> tuple[float, float, int]:
    """(supervisors MiB, containers' own processes MiB, containers) over the running containers under
    ``oci_root`` (the supervisor reaps the container's init: it is the supervisor's child)."""
    supervisors = runcs = 0.0
    count = 0
    for started in oci_root.glob("nodes/*/containers/*/started.json"):
        pid = int(json.loads(started.read_text()).get("pid", 0))
        if pid <= 0 or (started.parent / "exit.json").exists() or not Path(f"/proc/{pid}").exists():
            continue
        count += 1
        supervisors += proc_rss_mib(pid)
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            runcs += proc_rss_mib(int(child))
    return supervisors, runcs, count


async def wait_ready(store: Store, node: str, agent: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            if (await store.get(NODES, node)).is_ready():
                return
        except Exception:
            pass
        if time.monotonic() > deadline or agent.poll() is not None:
            raise RuntimeError(f"agent {node} did not register; see {log}")
        await asyncio.sleep(0.2)


async def main(args: argparse.Namespace) -> None:
    subprocess.run(["bash", str(REPO / "deploy/images/build.sh"), "demo"], check=True, capture_output=True)
    suffix = uuid.uuid4().hex[:6]
    nodes = {"oci": f"bench-oci-{suffix}", "docker": f"bench-docker-{suffix}"}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        archive = root / "demo.tar"
        docker("save", IMAGE, "-o", str(archive))
        etcd = EmbeddedEtcd(data_dir=root / "etcd")
        await etcd.start()
        client = await connect(EtcdConfig(endpoints=(etcd.endpoint,), timeout=5.0))
        store = Store(client)
        await ensure_system_namespaces(store)
        token = root / "token"
        token.write_text(uuid.uuid4().hex)
        agents: list[tuple[subprocess.Popen[bytes], object]] = []
        before = leftovers()
        try:
            common = ["--etcd-endpoints", etcd.endpoint, "--listen", "127.0.0.1:0", "--agent-token-file", str(token),
                      "--drain-on-exit", "--eviction-hard", LOCAL_EVICTION_HARD]
            extra = {"oci": ["--oci-root", str(root / "oci"), "--load-image", str(archive), "--pod-cidr", SUBNET,
                             "--cni-bridge", BRIDGE, "--cni-network", NETWORK, "--root-dir", str(root / "pods")],
                     "docker": []}
            results: dict[str, list[float]] = {}
            memory: tuple[float, float, int] = (0.0, 0.0, 0)
            for runtime, node in nodes.items():
                log_path = root / f"{runtime}.log"
                log = open(log_path, "w")
                agent = subprocess.Popen([sys.executable, "-m", "agent", "--node", node, "--runtime", runtime,
                                          *common, *extra[runtime]], cwd=REPO, stdout=log, stderr=log)
                agents.append((agent, log))
                await wait_ready(store, node, agent, log_path)
                results[runtime] = await run_pods(store, node, f"{runtime}-", args.pods)
                if runtime == "oci":
                    await asyncio.sleep(3)  # start-up settled
                    memory = oci_process_rss(root / "oci")
                await delete_all(store, f"{runtime}-")
            after = leftovers()
            n = args.pods
            print(f"\noci vs docker runtime ({os.cpu_count()} cores, runc {sh('runc --version').split()[2]}, "
                  f"docker {docker('version', '-f', '{{.Server.Version}}')})")
            print(f"pod bound -> Running reported, {n} pods created at once on one agent:")
            for runtime, latencies in results.items():
                print(f"  {runtime:6} p50 {percentile(latencies, 50):.2f} s   p99 {percentile(latencies, 99):.2f} s   "
                      f"max {max(latencies):.2f} s   mean {statistics.mean(latencies):.2f} s")
            supervisors, runcs, count = memory
            if count:
                print(f"oci idle memory per running container ({count} running): supervisor "
                      f"{supervisors / count:.1f} MiB RSS (the container's own process: {runcs / count:.1f} MiB; no runc "
                      "process stays)")
            print(f"oci leftovers before/after {n} pods: {before} / {after}"
                  + ("  (none leaked)" if before == after else "  LEAKED"))
        finally:
            for agent, log in agents:
                agent.terminate()
                try:
                    agent.wait(120)
                except subprocess.TimeoutExpired:
                    agent.kill()
                log.close()  # type: ignore[attr-defined]
            stale = docker("ps", "-aq", "--filter", f"label=kubelite.node={nodes['docker']}").split()
            if stale:
                docker("rm", "-f", *stale)
            subprocess.run(["ip", "link", "delete", BRIDGE], capture_output=True, check=False)
            await client.close()
            await etcd.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=50)
    asyncio.run(main(parser.parse_args()))
