"""The oci runtime's host side for a chaos cluster: one state directory, the demo image as an
OCI archive, and per agent a CNI bridge and pod subnet of its own; :meth:`OciNodes.close`
removes what the agents' drain did not (containers, network namespaces, the bridges).

The agents run with ``--drain-on-exit``: the cluster's final SIGTERM makes each remove its pods'
containers through the runtime (CNI DEL included, so IPAM and portmap rules are released);
a SIGKILL fault does not drain, as for a kubelet. Subnets are 10.246.X.0/24 with X random per
cluster and agent, and bridges ``klc<4 hex><n>``, so two clusters (or kl up's 10.244.n.0/24 and
tests/agent/test_oci.py's 10.244.250.0/24) never share one. kubelite does not import the agent
(layers): whether the host can run oci is asked of ``python -m agent.runtime.oci.check``.
"""

from __future__ import annotations

import json
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from kubelite.testing.dockerd import unmount_below

NETNS_DIR = Path("/var/run/netns")


def oci_problem() -> str | None:
    """Why this host cannot run the oci runtime (``None`` when it can)."""
    result = subprocess.run([sys.executable, "-m", "agent.runtime.oci.check"], capture_output=True,  # noqa: S603
                            text=True, timeout=30, check=False)
    if result.returncode == 0:
        return None
    lines = (result.stdout.strip() or result.stderr.strip()).splitlines()
    return lines[-1] if lines else "the oci runtime's check failed"


class OciNodes:
    """Host resources of a cluster's oci agents; ``prepare()`` before the first agent."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="klo-"))  # short: runc and CNI keep sockets below it
        self.tag = uuid.uuid4().hex[:4]
        self._third = random.Random().randrange(0, 250)  # noqa: S311 - not security: a subnet unlikely in use
        self.bridges: list[str] = []
        self.networks: list[str] = []  # CNI network names: the bridge plugin's rules carry them
        self.archive = self.root / "demo.tar"

    def prepare(self) -> None:
        """Check the host and build the demo image's OCI archive (umoci; no Docker needed)."""
        problem = oci_problem()
        if problem is not None:
            raise RuntimeError(f"the oci runtime cannot run here: {problem}")
        from kubelite.images.oci_build import build_demo_archive
        build_demo_archive(self.archive, lambda _: None)

    def flags(self, index: int, node: str) -> list[str]:
        """The oci flags of agent number ``index`` (0…) running node ``node``."""
        bridge = f"klc{self.tag}{index}"
        self.bridges.append(bridge)
        self.networks.append(f"kubelite-{node}")
        return ["--oci-root", str(self.root), "--load-image", str(self.archive),
                "--pod-cidr", f"10.246.{(self._third + index) % 250}.0/24", "--cni-bridge", bridge,
                "--cni-network", f"kubelite-{node}", "--root-dir", str(self.root / "volumes" / node),
                "--drain-on-exit"]

    def leftovers(self) -> dict[str, list[str]]:
        """What the agents left on the host: runc containers, network namespaces, bridges, NAT rules."""
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=False).stdout  # noqa: S603,S607
        return {"containers": [c["id"] for c in self._runc_list()],
                "netns": [n for n in self.netns_names() if (NETNS_DIR / n).exists()],
                "bridges": [b for b in self.bridges if f": {b}:" in links],
                "rules": self._nat_rules()}

    def _nat_rules(self) -> list[str]:
        """The CNI bridge plugin's masquerade rules of these networks (``-A POSTROUTING ... name:
        "kubelite-<node>" ... -j CNI-<hash>``), which only a CNI DEL removes."""
        out = subprocess.run(["iptables", "-t", "nat", "-S", "POSTROUTING"], capture_output=True,  # noqa: S603,S607
                             text=True, check=False).stdout
        return [line for line in out.splitlines()
                if any(f'\\"{n}\\"' in line for n in self.networks)]  # the comment quotes the name

    def containers(self, nodes: list[str]) -> list[dict[str, Any]]:
        """Every container of ``nodes`` as an outside observer sees it (the shape
        :func:`kubelite.testing.checks.container_problems` takes): app containers by ``runc list``,
        pod sandboxes (a network namespace, no process) by their namespace's existence."""
        states = {c["id"]: c["status"] for c in self._runc_list()}
        found = []
        for node in nodes:
            for meta_file in (self.root / "nodes" / node / "containers").glob("*/meta.json"):
                try:
                    meta = json.loads(meta_file.read_text())
                except (OSError, ValueError):
                    continue  # being written or removed right now
                labels = meta.get("labels") or {}
                cid = meta_file.parent.name
                if meta.get("sandbox"):
                    state = "running" if (NETNS_DIR / str(meta.get("netns"))).exists() else "exited"
                else:
                    state = states.get(cid, "exited")
                found.append({"node": node, "id": cid, "state": state,
                              "pod_uid": labels.get("kubelite.pod.uid", ""),
                              "namespace": labels.get("kubelite.pod.namespace", ""),
                              "pod": labels.get("kubelite.pod.name", ""),
                              "container": labels.get("kubelite.container.name", "")})
        return found

    def _runc_list(self) -> list[dict[str, Any]]:
        if not (self.root / "runc").is_dir():  # `runc list` would create its root
            return []
        out = subprocess.run(["runc", "--root", str(self.root / "runc"), "list", "--format", "json"],  # noqa: S603,S607
                             capture_output=True, text=True, check=False).stdout.strip()
        return list(json.loads(out or "null") or [])

    def netns_names(self) -> list[str]:
        names = []
        for meta in self.root.glob("nodes/*/containers/*/meta.json"):
            try:
                netns = json.loads(meta.read_text()).get("netns")
            except (OSError, ValueError):
                continue
            if netns:
                names.append(str(netns))
        return names

    def close(self) -> None:
        """Remove what is left (after the agents stopped): containers, namespaces, bridges, files."""
        left = self.leftovers()
        for container in left["containers"]:
            subprocess.run(["runc", "--root", str(self.root / "runc"), "delete", "--force", container],  # noqa: S603,S607
                           capture_output=True, check=False)
        for netns in left["netns"]:
            subprocess.run(["ip", "netns", "delete", netns], capture_output=True, check=False)  # noqa: S603,S607
        for bridge in self.bridges:
            subprocess.run(["ip", "link", "delete", bridge], capture_output=True, check=False)  # noqa: S603,S607
        for rule in left["rules"]:  # an agent stopped before its drain (SIGTERM while starting) leaves these
            chain = rule.rsplit(" -j ", 1)[-1]
            subprocess.run(["iptables", "-t", "nat", "-D", *shlex.split(rule)[1:]], capture_output=True,  # noqa: S603,S607
                           check=False)
            if chain.startswith("CNI-"):
                for flag in ("-F", "-X"):
                    subprocess.run(["iptables", "-t", "nat", flag, chain], capture_output=True, check=False)  # noqa: S603,S607
        unmount_below(self.root)  # containers' overlay roots (runc delete leaves them)
        shutil.rmtree(self.root, ignore_errors=True)
