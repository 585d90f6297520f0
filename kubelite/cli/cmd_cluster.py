"""``kl up`` and the server processes: ``kl etcd``, ``kl gateway``, ``kl agent``,
``kl controller-manager``, ``kl control-plane`` (the gateway and a controller-manager in one
process, as kl up runs them). All but ``kl etcd`` exec ``python -m <module>`` (kubelite
must not import controllers or agent)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from kubelite.node.evictionflags import LOCAL_EVICTION_HARD
from kubelite.cli.common import command
from kubelite.cli.errors import CliError
from kubelite.cli.up import UpOptions, run
from kubelite.cli.up_support import default_data_dir, split_host_port

app = typer.Typer()

PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def exec_module(module: str, args: list[str]) -> None:
    """Replace this process with ``python -m module args...``."""
    argv = [sys.executable, "-m", module, *args]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)


@app.command("gateway", context_settings=PASS_THROUGH, add_help_option=False)
def gateway(ctx: typer.Context) -> None:
    """Run the gateway (python -m kubelite.gateway; arguments passed on)."""
    exec_module("kubelite.gateway", ctx.args)


@app.command("agent", context_settings=PASS_THROUGH, add_help_option=False)
def agent(ctx: typer.Context) -> None:
    """Run a node agent (python -m agent; arguments passed on)."""
    exec_module("agent", ctx.args)


@app.command("controller-manager", context_settings=PASS_THROUGH, add_help_option=False)
def controller_manager(ctx: typer.Context) -> None:
    """Run the controller manager (python -m controllers; arguments passed on)."""
    exec_module("controllers", ctx.args)


@app.command("control-plane", context_settings=PASS_THROUGH, add_help_option=False)
def control_plane(ctx: typer.Context) -> None:
    """Run the gateway and a controller manager in one process (python -m controllers.controlplane
    --gateway FLAGS... --controller-manager FLAGS...; arguments passed on)."""
    exec_module("controllers.controlplane", ctx.args)


@command(app, "etcd")
def etcd(
    data_dir: Annotated[Path, typer.Option(help="Where etcd keeps its data and log.")],
    listen_client: Annotated[str, typer.Option(help="127.0.0.1:PORT for clients.")] = "127.0.0.1:2379",
    listen_peer: Annotated[str | None, typer.Option(help="127.0.0.1:PORT for peers (default: client port + 1).")] = None,
) -> None:
    """Run a single-member etcd in the foreground (the embedded etcd) until Ctrl-C."""
    from kubelite.etcd.server import EmbeddedEtcd

    host, client_port = split_host_port(listen_client)
    peer_host, peer_port = split_host_port(listen_peer) if listen_peer else (host, client_port + 1)
    if host != "127.0.0.1" or peer_host != "127.0.0.1":
        raise CliError("the embedded etcd listens on 127.0.0.1 only")
    server = EmbeddedEtcd(data_dir=data_dir, client_port=client_port, peer_port=peer_port)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await server.start()
        except Exception as exc:  # EtcdStartError, FileNotFoundError: say it in one line
            raise CliError(str(exc).splitlines()[0]) from None
        try:
            typer.echo(f"etcd listening on {server.endpoint} (data: {server.etcd_data_dir}, "
                       f"log: {server.log_path}); Ctrl-C stops it", err=True)
            while not stop.is_set():
                if not server.running:
                    raise CliError(f"etcd exited; last lines of {server.log_path}:\n{server.log_tail(10)}")
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=0.5)
        finally:
            await server.stop()

    asyncio.run(main())


@command(app, "up")
def up(
    nodes: Annotated[int, typer.Option(help="Number of agents (node-1 … node-N).")] = 2,
    runtime: Annotated[str, typer.Option(help="docker, oci, sim or auto (docker when a Docker Engine answers, else oci "
                                              "when runc and the CNI plugins are usable, else sim).")] = "auto",
    listen: Annotated[str, typer.Option(help="Gateway address.")] = "127.0.0.1:8080",
    data_dir: Annotated[Path | None, typer.Option(help="State, logs, kubeconfig (default ~/.kubelite).")] = None,
    etcd_endpoints: Annotated[str | None, typer.Option(help="Use this etcd instead of starting one.")] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Leave the containers running on exit.")] = False,
    demo: Annotated[bool, typer.Option("--demo", help="Apply the demo (the packaged examples/web.yaml) and say how to reach it.")] = False,
    ready_timeout: Annotated[float, typer.Option(help="Seconds to wait for the gateway and nodes.")] = 90.0,
    etcd_compaction_interval: Annotated[str, typer.Option(
        help="How often the gateway and controller-manager compact etcd (e.g. 5m, 30s; 0 disables).")] = "5m",
    container_log_max_size: Annotated[str, typer.Option(
        help="Agents rotate a container's log at this size (quantity, kubelet default 10Mi).")] = "10Mi",
    container_log_max_files: Annotated[int, typer.Option(
        help="Log files kept per container (kubelet default 5).")] = 5,
    eviction_hard: Annotated[str, typer.Option(
        help="Agents' disk eviction thresholds (kubelet syntax; '' disables). The default is an absolute "
             "floor, not the kubelet's 10%/15%: a local cluster shares the developer's disk.")] = LOCAL_EVICTION_HARD,
    sim_nodes_per_process: Annotated[int, typer.Option(
        help="Sim runtime: nodes hosted by one agent process (1: one process per node, as before).")] = 250,
    node_lease_duration: Annotated[int, typer.Option(
        help="Seconds a node stays Ready after its last lease renewal (the kubelet's nodeLeaseDurationSeconds, "
             "40); agents renew every third of it.")] = 40,
    service_cluster_ip_range: Annotated[str, typer.Option(
        help="CIDR of Services' cluster IPs; two clusters on one host need different ones.")] = "10.96.0.0/12",
    encryption_provider_config: Annotated[Path | None, typer.Option(
        help="EncryptionConfiguration for Secrets at rest (default: an aescbc key made once in the data dir, "
             "encryption.yaml, mode 0600).")] = None,
    prometheus: Annotated[bool, typer.Option(
        "--prometheus", help="Write <data-dir>/prometheus.yml: a scrape configuration for every process.")] = False,
    secure: Annotated[bool, typer.Option(
        "--secure/--insecure-http",
        help="--secure (the default): HTTPS with a cluster CA in <data-dir>/pki, an admin client certificate in "
             "the kubeconfig and RBAC; plain HTTP on the same port answers only your own user's (and root's) "
             "loopback clients (docs/security.md). --insecure-http: plain HTTP only, no authentication on "
             "loopback, for the curious.")] = True,
    audit_policy_file: Annotated[Path | None, typer.Option(
        help="audit.k8s.io/v1 Policy for the gateway's audit log (<data-dir>/audit.log); default: every write at "
             "Metadata (docs/security.md).")] = None,
) -> None:
    """Start a whole local cluster in the foreground; Ctrl-C stops everything."""
    opts = UpOptions(nodes=nodes, runtime=runtime, listen=listen, data_dir=data_dir or default_data_dir(),
                     etcd_endpoints=etcd_endpoints, keep=keep, demo=demo, ready_timeout=ready_timeout,
                     etcd_compaction_interval=etcd_compaction_interval,
                     container_log_max_size=container_log_max_size, container_log_max_files=container_log_max_files,
                     eviction_hard=eviction_hard, sim_nodes_per_process=sim_nodes_per_process, prometheus=prometheus,
                     node_lease_duration=node_lease_duration,
                     service_cluster_ip_range=service_cluster_ip_range,
                     encryption_provider_config=encryption_provider_config, secure=secure,
                     audit_policy_file=audit_policy_file)

    def say(line: str) -> None:
        print(f"[kl up] {line}" if line else "", flush=True)

    code = asyncio.run(run(opts, say))
    if code:
        raise typer.Exit(code)
