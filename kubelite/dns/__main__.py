"""``python -m kubelite.dns``: the cluster DNS server as a process (``kl up`` starts it)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from kubelite.dns.server import ClusterDns
from kubelite.etcd.client import connect
from kubelite.etcd.flags import add_etcd_arguments, etcd_config_from_args
from kubelite.util.listen import ListenError, split_host_port
from kubelite.util.logs import setup_logging
from kubelite.util.process import run_component
from kubelite.registry.service_alloc import DEFAULT_SERVICE_CIDR, ServiceAllocator, ServiceRanges, ranges_flag
from kubelite.storage.store import Store


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m kubelite.dns", description="kubelite's cluster DNS server")
    add_etcd_arguments(parser)
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT for UDP and TCP (default 127.0.0.1:0)")
    parser.add_argument("--cluster-domain", default="cluster.local")
    parser.add_argument("--service-ip", help="cluster IP of the kube-system/kube-dns Service this server registers "
                        "(default: none registered)")
    parser.add_argument("--service-cluster-ip-range", type=ranges_flag, default=DEFAULT_SERVICE_CIDR,
                        help="the gateways' --service-cluster-ip-range (the kube-dns address is checked against it)")
    parser.add_argument("--upstream", action="append", help="resolver for other names (default: /etc/resolv.conf's)")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    host, port = split_host_port(args.listen, flag="--listen")
    client = await connect(etcd_config_from_args(args))
    store = Store(client, services=ServiceAllocator(ServiceRanges(args.service_cluster_ip_range)))
    dns = ClusterDns(store, host=host, port=port, domain=args.cluster_domain, upstream=args.upstream,
                     service_ip=args.service_ip)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await dns.start()
        print(f"kubelite cluster DNS serving on {host}:{dns.port}", file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        await dns.stop()
        await client.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging("dns", level=args.log_level)
    return run_component(serve(args), (ListenError, OSError, ValueError))


if __name__ == "__main__":
    sys.exit(main())
