"""The small decisions and files of ``kl up``: data dir, addresses, which
runtime (and why), tokens (the agent secret and each node's token) and etcd
ports kept across restarts, removing the
containers agents leave behind, and how to call ``kl``."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
import shutil
import socket
import sys
from collections.abc import Callable
from pathlib import Path

from kubelite.util import listen
from kubelite.node.agent_auth import node_token
from kubelite.cli.errors import CliError
from kubelite.etcd.server import free_port, port_is_free

NODE_LABEL = "kubelite.node"
CLUSTER_LABEL = "kubelite.cluster.uid"  # agent.runtime.base.LABEL_CLUSTER (kubelite may not import agent)


def default_data_dir() -> Path:
    """``~/.kubelite``, or ``./.kubelite`` when there is no writable home."""
    home = Path.home()
    if home.is_dir() and os.access(home, os.W_OK):
        return home / ".kubelite"
    return Path.cwd() / ".kubelite"


def split_host_port(address: str) -> tuple[str, int]:
    """``(host, port)`` of ``HOST:PORT``; the host keeps IPv6 brackets (it goes into URLs)."""
    try:
        _, port = listen.split_host_port(address, flag="address")  # the one home of the rule (port range too)
    except ValueError:
        raise CliError(f"bad address {address!r}: expected HOST:PORT with a port from 0 to 65535") from None
    return address.rpartition(":")[0], port


def detect_runtime(requested: str) -> tuple[str, str]:
    """(runtime, why): docker when a Docker Engine answers, else oci when runc and the CNI plugins
    are usable (root), else sim."""
    if requested == "sim":
        return "sim", "as requested (--runtime sim)"
    if requested == "oci":
        problem = oci_problem()
        if problem:
            raise CliError(f"--runtime oci, but {problem}")
        return "oci", "as requested (--runtime oci)"
    problem = docker_problem()
    if requested == "docker":
        if problem:
            raise CliError(f"--runtime docker, but {problem}")
        return "docker", "as requested (--runtime docker)"
    if requested != "auto":
        raise CliError(f"unknown runtime {requested!r}: docker, oci, sim or auto")
    return auto_runtime(problem, oci_problem() if problem else None)


def auto_runtime(docker: str | None, oci: str | None) -> tuple[str, str]:
    """``--runtime auto`` given what keeps docker and oci from working (None: nothing): docker, else
    oci, else sim, with the reason."""
    if not docker:
        return "docker", "a Docker Engine answers"
    if not oci:
        return "oci", f"{docker}; runc and the CNI plugins are usable"
    return "sim", (f"{docker}, and {oci} (start dockerd, or run `bash scripts/setup.sh` as root, "
                   "for real containers)")


def oci_problem() -> str | None:
    """None when this host can run the oci runtime, else what it lacks (asked of the agent's own
    check in a subprocess: kubelite does not import the agent)."""
    import subprocess

    result = subprocess.run([sys.executable, "-m", "agent.runtime.oci.check"], capture_output=True, text=True,
                            timeout=30, check=False)
    if result.returncode == 0:
        return None
    lines = (result.stdout.strip() or result.stderr.strip()).splitlines()
    return lines[-1] if lines else "the oci runtime's check failed"


def oci_demo_archive(data_dir: Path, say: Callable[[str], None]) -> Path:
    """The demo image (also the pod sandbox image) as an OCI archive for the oci agents'
    ``--load-image``, built with umoci from the same context as ``kl images build``: no Docker needed.
    CliError when it cannot be built."""
    from kubelite.images.oci_build import OciBuildError, build_demo_archive

    try:
        return build_demo_archive(data_dir / "images" / "demo.tar", say)
    except OciBuildError as exc:
        raise CliError(str(exc)) from None


def oci_node_network(index: int) -> tuple[str, str, str]:
    """(CNI bridge, pod CIDR, gateway address) of ``kl up``'s ``index``-th oci node (1-based): one bridge
    and /24 per node (10.244.<index>.0/24, as kube's --allocate-node-cidrs)."""
    return f"kl-cni{index}", f"10.244.{index}.0/24", f"10.244.{index}.1"


def oci_dns_address() -> str:
    """Where the cluster DNS listens with the oci runtime: node-1's CNI bridge gateway, made now if
    missing (the CNI bridge plugin adopts an existing bridge with its gateway address), so pods of every
    node reach it through the node proxy's kube-dns rules. CliError when the bridge cannot be made."""
    import subprocess

    bridge, cidr, gateway = oci_node_network(1)
    prefix = cidr.rsplit("/", 1)[1]
    for argv, exists in ((["ip", "link", "add", bridge, "type", "bridge"], ("File exists",)),
                         (["ip", "addr", "add", f"{gateway}/{prefix}", "dev", bridge],
                          ("File exists", "already assigned")),
                         (["ip", "link", "set", bridge, "up"], ())):
        done = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0 and not any(text in done.stderr for text in exists):
            raise CliError(f"cannot prepare the cluster DNS address on {bridge}: {done.stderr.strip()}")
    return gateway


def ensure_docker_images(say: Callable[[str], None]) -> None:
    """Build the images the docker runtime needs (the pod sandbox, which is also the demo's image)
    when they are missing, saying so; CliError when that cannot be done."""
    from kubelite.images.build import DEMO_IMAGE, ImageBuildError, build_all

    try:
        build_all(("demo",), only_missing=True, say=say)
    except ImageBuildError as exc:
        raise CliError(f"{exc} (the docker runtime runs every pod's sandbox from {DEMO_IMAGE}; "
                       "`kl images build` builds it, or use --runtime sim)") from None


def docker_problem() -> str | None:
    """None when a Docker Engine answers a ping, else why not."""
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # the SDK raises many unrelated types when no engine is there
        return f"no Docker Engine answers ({type(exc).__name__})"
    return None


def ensure_token(data_dir: Path) -> str:
    """The admin token of this cluster, kept in ``tokens.csv`` (kube-apiserver format)."""
    path = data_dir / "tokens.csv"
    if path.exists():
        first = path.read_text().split(",", 1)[0].strip()
        if first:
            return first
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f'{token},admin,admin,"system:masters"\n')
    return token


def ensure_secret_file(path: Path) -> None:
    """A random token in ``path`` (mode 0600), kept if it exists."""
    if path.exists() and path.read_text().strip():
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(24) + "\n")


def write_node_tokens(secret_path: Path, directory: Path, nodes: list[str]) -> None:
    """``directory/<node>``: each agent's own API token (mode 0600), derived from the agent secret."""
    secret = secret_path.read_text().strip()
    directory.mkdir(mode=0o700, exist_ok=True)
    for node in nodes:
        fd = os.open(directory / node, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(node_token(secret, node) + "\n")


def sim_node_groups(nodes: int, per_process: int) -> list[tuple[int, int]]:
    """Nodes 1..``nodes`` cut into (first, count) runs of at most ``per_process``: one sim agent process each."""
    if nodes < 1 or per_process < 1:
        raise ValueError("nodes and nodes per process must be at least 1")
    return [(first, min(per_process, nodes - first + 1)) for first in range(1, nodes + 1, per_process)]


def etcd_ports(data_dir: Path) -> tuple[int, int]:
    """etcd's ports, kept in the data dir so a restarted cluster finds its member again."""
    path = data_dir / "etcd-ports.json"
    with contextlib.suppress(OSError, ValueError, KeyError):
        saved = json.loads(path.read_text())
        client, peer = int(saved["client"]), int(saved["peer"])
        if port_is_free(client) and port_is_free(peer):
            return client, peer
    client = free_port()
    peer = free_port()
    while peer == client:
        peer = free_port()
    path.write_text(json.dumps({"client": client, "peer": peer}))
    return client, peer


def remove_containers(nodes: list[str], cluster_uid: str) -> list[str]:
    """Remove this cluster's containers of these nodes (labels kubelite.node=<node> and
    kubelite.cluster.uid=<uid>: another cluster on the engine may use the same node names,
    and containers without the cluster label are never provably ours); returns problems."""
    if not cluster_uid:
        raise ValueError("removing containers needs the cluster's uid")
    try:
        import docker

        client = docker.from_env(timeout=30)
    except Exception as exc:
        return [f"cannot reach Docker to remove containers: {exc}"]
    problems = []
    try:
        for node in nodes:
            for container in client.containers.list(
                    all=True, filters={"label": [f"{NODE_LABEL}={node}", f"{CLUSTER_LABEL}={cluster_uid}"]}):
                try:
                    container.remove(force=True)
                except Exception as exc:
                    problems.append(f"container {container.name}: {exc}")
    finally:
        client.close()
    return problems


def cluster_dns_ip(service_range: str) -> str:
    """kube-dns's conventional address: the 10th of the service range (10.96.0.10)."""
    return str(ipaddress.IPv4Network(service_range, strict=False).network_address + 10)


def docker_bridge_gateway() -> str:
    """The host's address on Docker's default bridge (where pods' traffic to the host arrives)."""
    import docker

    client = docker.from_env(timeout=30)
    try:
        configs = client.networks.get("bridge").attrs.get("IPAM", {}).get("Config") or []
    finally:
        client.close()
    return next((c["Gateway"] for c in configs if c.get("Gateway")), "172.17.0.1")


def can_bind(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def kl_command() -> str:
    """How to call kl from another terminal: ``kl`` if it is on PATH, else its full path."""
    on_path = shutil.which("kl")
    beside = Path(sys.executable).parent / "kl"
    if on_path or not beside.exists():
        return "kl"
    return str(beside)
