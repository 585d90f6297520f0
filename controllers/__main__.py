"""``python -m controllers``: run the controller manager (what ``kl controller-manager`` execs)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import signal
import socket
import sys
from pathlib import Path

from controllers.context import Settings
from controllers.manager import CONTROLLERS, ControllerManager, ManagerConfig
from kubelite.etcd.compaction import add_compaction_argument
from kubelite.etcd.flags import add_etcd_arguments, etcd_config_from_args
from kubelite.util.listen import ListenError, split_host_port
from kubelite.util.logs import setup_logging
from kubelite.util.process import run_component, settle_heap
from kubelite.registry.strategy import admission_plugins_flag, toleration_seconds_flag

log = logging.getLogger("controllers")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = Settings()
    p = argparse.ArgumentParser(prog="python -m controllers", description=__doc__)
    add_etcd_arguments(p)
    add_compaction_argument(p)
    p.add_argument("--id", default=None, help="identity in the leader election (default hostname-pid)")
    p.add_argument("--listen", default="127.0.0.1:10257",
                   help="host:port for /healthz /readyz /metrics; empty to disable")
    p.add_argument("--lease-ttl", type=int, default=15, help="leader election lease TTL, seconds")
    p.add_argument("--default-not-ready-toleration-seconds", type=toleration_seconds_flag,
                   default=defaults.default_not_ready_toleration_seconds,
                   help="tolerationSeconds of the not-ready:NoExecute toleration added to pods the controllers "
                        "create without one (DefaultTolerationSeconds; the gateway has the same flag)")
    p.add_argument("--default-unreachable-toleration-seconds", type=toleration_seconds_flag,
                   default=defaults.default_unreachable_toleration_seconds,
                   help="the same for unreachable:NoExecute")
    p.add_argument("--toleration-seconds", type=toleration_seconds_flag, default=None,
                   help="shorthand: set both --default-*-toleration-seconds")
    p.add_argument("--enable-admission-plugins", type=admission_plugins_flag, default=frozenset(),
                   help="ServiceAccount: the pods the controllers create get the ServiceAccount admission "
                        "(the gateway has the same flag; kl up enables it)")
    p.add_argument("--root-ca-file", default="",
                   help="the cluster CA the root-ca-cert-publisher puts in every namespace's kube-root-ca.crt "
                        "ConfigMap (kube-controller-manager's flag); empty: ca.crt is empty (a plain-HTTP gateway)")
    p.add_argument("--node-monitor-grace-period", type=float, default=defaults.node_monitor_grace_seconds,
                   help="seconds after a node lease disappears before the node is marked Unknown")
    p.add_argument("--controllers", default=",".join(CONTROLLERS),
                   help=f"comma-separated subset of: {', '.join(CONTROLLERS)}")
    p.add_argument("--scheduler-workers", type=int, default=defaults.scheduler_workers)
    p.add_argument("--percentage-of-nodes-to-score", type=int, default=defaults.percentage_of_nodes_to_score,
                   help="stop filtering once this %% of the nodes are feasible (kube-scheduler's "
                        "percentageOfNodesToScore); 0 = adaptive: 50%% minus 1%% per 125 nodes, at least "
                        "5%% and 100 nodes")
    p.add_argument("--replicaset-workers", type=int, default=defaults.replicaset_workers)
    p.add_argument("--deployment-workers", type=int, default=defaults.deployment_workers)
    p.add_argument("--resync-period", type=float, default=defaults.resync_seconds,
                   help="informer resync (safety net), seconds")
    p.add_argument("--metrics-api-server", default="",
                   help="URL of the gateway whose metrics.k8s.io API the HPA controller reads (kl up passes its "
                        "gateway); empty: HPAs report that no metrics are available")
    p.add_argument("--metrics-api-token-file", default="", help="file holding the bearer token for it")
    p.add_argument("--metrics-api-ca-file", default="", help="CA certificate of an HTTPS metrics API server")
    p.add_argument("--horizontal-pod-autoscaler-sync-period", type=float, default=defaults.hpa_sync_seconds,
                   help="seconds between an HPA's syncs (kube-controller-manager's flag; default 15)")
    p.add_argument("--horizontal-pod-autoscaler-downscale-stabilization", type=float,
                   default=defaults.hpa_downscale_stabilization_seconds,
                   help="seconds of recommendations a scale-down takes the highest of, for HPAs without behavior "
                        "(default 300)")
    p.add_argument("--horizontal-pod-autoscaler-tolerance", type=float, default=defaults.hpa_tolerance,
                   help="usage ratio within 1±this leaves the replicas alone (default 0.1)")
    p.add_argument("--log-level", default=os.environ.get("KUBELITE_LOG_LEVEL", "INFO"))
    return p.parse_args(argv)


def _read_root_ca(path: str) -> str:
    if not path:
        return ""
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise SystemExit(f"error: --root-ca-file {path}: {exc.strerror or exc}") from None


def _pick(shorthand: int | None, value: int) -> int:
    return value if shorthand is None else shorthand


def config_from_args(args: argparse.Namespace) -> ManagerConfig:
    etcd = etcd_config_from_args(args)
    settings = Settings(
        default_not_ready_toleration_seconds=_pick(args.toleration_seconds, args.default_not_ready_toleration_seconds),
        default_unreachable_toleration_seconds=_pick(args.toleration_seconds,
                                                     args.default_unreachable_toleration_seconds),
        node_monitor_grace_seconds=args.node_monitor_grace_period,
        service_account_admission="ServiceAccount" in args.enable_admission_plugins,
        root_ca=_read_root_ca(args.root_ca_file),
        scheduler_workers=args.scheduler_workers, percentage_of_nodes_to_score=args.percentage_of_nodes_to_score,
        replicaset_workers=args.replicaset_workers,
        deployment_workers=args.deployment_workers, resync_seconds=args.resync_period,
        hpa_sync_seconds=args.horizontal_pod_autoscaler_sync_period,
        hpa_downscale_stabilization_seconds=args.horizontal_pod_autoscaler_downscale_stabilization,
        hpa_tolerance=args.horizontal_pod_autoscaler_tolerance, metrics_api_server=args.metrics_api_server,
        metrics_api_token_file=args.metrics_api_token_file, metrics_api_ca_file=args.metrics_api_ca_file,
    )
    if args.listen:
        try:
            split_host_port(args.listen, flag="--listen", default_host="127.0.0.1")
        except ValueError as exc:
            raise SystemExit(f"error: {exc}") from None
    for flag, value in (("--node-monitor-grace-period", args.node_monitor_grace_period),
                        ("--resync-period", args.resync_period), ("--lease-ttl", args.lease_ttl),
                        ("--horizontal-pod-autoscaler-sync-period", args.horizontal_pod_autoscaler_sync_period)):
        if not 0 < value < math.inf:  # 0 would treat every lease as lost at once, or resync in a busy loop
            raise SystemExit(f"error: {flag} must be a positive number of seconds, not {value}")
    for flag, value in (("--scheduler-workers", args.scheduler_workers),
                        ("--replicaset-workers", args.replicaset_workers),
                        ("--deployment-workers", args.deployment_workers)):
        if value < 1:  # no worker: that controller would silently do nothing
            raise SystemExit(f"error: {flag} must be at least 1, not {value}")
    if not 0 <= args.horizontal_pod_autoscaler_downscale_stabilization < math.inf:
        raise SystemExit("error: --horizontal-pod-autoscaler-downscale-stabilization must be a number of seconds "
                         f"from 0, not {args.horizontal_pod_autoscaler_downscale_stabilization}")
    if not 0 <= args.horizontal_pod_autoscaler_tolerance < 1:
        raise SystemExit("error: --horizontal-pod-autoscaler-tolerance must be from 0 to below 1, "
                         f"not {args.horizontal_pod_autoscaler_tolerance}")
    if not 0 <= args.percentage_of_nodes_to_score <= 100:  # kube-scheduler's config validation bounds
        raise SystemExit("error: --percentage-of-nodes-to-score must be between 0 and 100, "
                         f"not {args.percentage_of_nodes_to_score}")
    names = tuple(n.strip() for n in args.controllers.split(",") if n.strip())
    unknown = [n for n in names if n not in CONTROLLERS]
    if unknown:
        raise SystemExit(f"error: unknown controllers: {', '.join(unknown)} (known: {', '.join(CONTROLLERS)})")
    return ManagerConfig(
        etcd=etcd, identity=args.id or f"{socket.gethostname()}-{os.getpid()}", listen=args.listen or None,
        lease_ttl=args.lease_ttl, settings=settings, controllers=names,
        compaction_interval=args.etcd_compaction_interval,
    )


async def run(config: ManagerConfig) -> None:
    manager = ControllerManager(config)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await manager.start()
        settle_heap()
        if manager.server is not None:
            log.info("listening on %s", manager.server.url)
        await stopping.wait()
    finally:
        log.info("shutting down")
        await manager.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging("controller-manager", level=args.log_level)
    config = config_from_args(args)
    return run_component(run(config), (ListenError,))


if __name__ == "__main__":
    sys.exit(main())
