"""``python -m kubelite.gateway``: run one gateway until SIGINT/SIGTERM (``kl gateway`` execs this)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from kubelite.api import errors
from kubelite.etcd.compaction import add_compaction_argument
from kubelite.registry.service_alloc import (
    DEFAULT_NODE_PORTS,
    DEFAULT_SERVICE_CIDR,
    ServiceRanges,
    node_port_range_flag,
    ranges_flag,
)
from kubelite.etcd.flags import add_etcd_arguments, etcd_config_from_args
from kubelite.gateway import noderestriction
from kubelite.gateway.app import Gateway, GatewayConfig
from kubelite.gateway.audit_log import AuditLogOptions
from kubelite.gateway.auth import READONLY_GROUP, TokenFileError
from kubelite.gateway.state import WatchSettings
from kubelite.util.listen import ListenError, split_host_port
from kubelite.util.logs import setup_logging
from kubelite.util.process import run_component, settle_heap
from kubelite.auth.satokens import DEFAULT_ISSUER
from kubelite.registry.strategy import SWITCHABLE_PLUGINS, Admission, toleration_seconds_flag

log = logging.getLogger("kubelite.gateway")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kubelite.gateway", description=__doc__)
    add_etcd_arguments(parser)
    add_compaction_argument(parser)
    parser.add_argument("--listen", default="127.0.0.1:8080", help="host:port to serve on (default 127.0.0.1:8080)")
    parser.add_argument("--token-file", type=Path, help='bearer tokens: CSV lines token,user,uid,"group1,group2"')
    parser.add_argument("--readonly-group", default=READONLY_GROUP, help="group whose members may only read")
    parser.add_argument("--agent-secret-file", "--agent-token-file", dest="agent_secret_file", type=Path,
                        help="the agent secret: the gateway presents HMAC-SHA256(secret, node) to each node's "
                             "agent (pods/log); agents get only their own token (--agent-token-file is the old name)")
    parser.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate")
    parser.add_argument("--tls-key", type=Path, help="private key of --tls-cert")
    parser.add_argument("--client-ca-file", type=Path,
                        help="authenticate x509 client certificates signed by this CA (CN: user, O: groups)")
    parser.add_argument("--plain-http-uid", type=int, help="with TLS: also answer plain HTTP on the same port to "
                        "loopback clients whose socket this Unix user (or root) owns, as a cluster admin "
                        "(kl up passes its own uid); other plain requests get 400, as from kube-apiserver")
    parser.add_argument("--authorization-mode", default="AlwaysAllow", choices=("AlwaysAllow", "RBAC"),
                        help="RBAC: every request is authorized by Roles/ClusterRoles and their bindings")
    parser.add_argument("--service-account-signing-key-file", type=Path,
                        help="EC P-256 private key (PEM) signing ServiceAccount tokens (TokenRequest); the gateway "
                             "then authenticates them")
    parser.add_argument("--service-account-issuer", default=DEFAULT_ISSUER,
                        help=f"the iss claim of ServiceAccount tokens and their default audience ({DEFAULT_ISSUER})")
    parser.add_argument("--bookmark-interval", type=float, default=60.0, help="seconds between watch bookmarks")
    parser.add_argument("--request-header-timeout", type=float, default=32.0,
                        help="seconds a client has to send a whole request line and headers after connecting or "
                             "after its previous response (idle keep-alive connections close after as long)")
    parser.add_argument("--request-body-timeout", type=float, default=60.0,
                        help="seconds a client has to send a whole request body (408 after)")
    parser.add_argument("--default-not-ready-toleration-seconds", type=toleration_seconds_flag, default=300,
                        help="tolerationSeconds of the node.kubernetes.io/not-ready:NoExecute toleration added to "
                             "every pod that does not already have one (kube-apiserver's flag; default 300)")
    parser.add_argument("--default-unreachable-toleration-seconds", type=toleration_seconds_flag, default=300,
                        help="tolerationSeconds of the node.kubernetes.io/unreachable:NoExecute toleration added to "
                             "every pod that does not already have one (kube-apiserver's flag; default 300)")
    parser.add_argument("--service-cluster-ip-range", type=ranges_flag, default=DEFAULT_SERVICE_CIDR,
                        help=f"CIDR Services' cluster IPs come from (default {DEFAULT_SERVICE_CIDR})")
    parser.add_argument("--service-node-port-range", type=node_port_range_flag, default=DEFAULT_NODE_PORTS,
                        help="NodePort range, FIRST-LAST (default 30000-32767)")
    parser.add_argument("--enable-admission-plugins", type=_plugins_flag, default=frozenset(),
                        help="ServiceAccount: default pods' serviceAccountName and mount their API token "
                             "(kube-apiserver's plugin; needs the controller-manager's serviceaccount and "
                             "root-ca-cert-publisher controllers, kl up enables it); NodeRestriction: what "
                             "system:node:<name> may write (on unless disabled)")
    parser.add_argument("--disable-admission-plugins", type=_plugins_flag, default=frozenset(),
                        help="admission plugins that are on by default to turn off: NodeRestriction")
    parser.add_argument("--advertise-address", help="IP the kubernetes Service lists for this gateway, "
                        "which also serves there, on the --listen port (default: the --listen host)")
    parser.add_argument("--audit-log-path", help="write audit events (audit.k8s.io/v1 Event, JSON lines) to this "
                        "file; '-' is standard output")
    parser.add_argument("--audit-policy-file", type=Path, help="audit.k8s.io/v1 Policy (YAML or JSON) deciding what "
                        "is logged; default with --audit-log-path alone: every write at Metadata")
    parser.add_argument("--audit-log-mode", default="blocking", help="blocking: each event is written before its "
                        "request is answered (kube's default); batch: a thread writes them, events queued at a "
                        "SIGKILL are lost")
    parser.add_argument("--audit-log-maxsize", type=int, default=0, help="megabytes before the audit log is rotated "
                        "(0: never)")
    parser.add_argument("--audit-log-maxbackup", type=int, default=0, help="rotated audit logs kept (0: all)")
    parser.add_argument("--audit-log-maxage", type=int, default=0, help="days a rotated audit log is kept, by the "
                        "time in its name (0: no limit)")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def _plugins_flag(text: str) -> frozenset[str]:
    """The gateway's admission plugins: the store's switchable ones and NodeRestriction (on by default)."""
    names = frozenset(n.strip() for n in text.split(",") if n.strip())
    unknown = sorted(names - {*SWITCHABLE_PLUGINS, noderestriction.PLUGIN})
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown admission plugin(s) {', '.join(unknown)}: only "
                                         f"{', '.join((*SWITCHABLE_PLUGINS, noderestriction.PLUGIN))} can be named")
    return names


def config_from_args(args: argparse.Namespace) -> GatewayConfig:
    both = args.enable_admission_plugins & args.disable_admission_plugins
    if both:
        raise ValueError(f"{', '.join(sorted(both))} in both --enable-admission-plugins and "
                         "--disable-admission-plugins")
    if args.disable_admission_plugins - {noderestriction.PLUGIN}:
        raise ValueError(f"only {noderestriction.PLUGIN} is on by default and can be disabled")
    host, port = split_host_port(args.listen, flag="--listen")
    etcd = etcd_config_from_args(args)
    return GatewayConfig(
        etcd=etcd, host=host, port=port, token_file=args.token_file,
        readonly_group=args.readonly_group, agent_secret_file=args.agent_secret_file, tls_cert=args.tls_cert,
        tls_key=args.tls_key, client_ca_file=args.client_ca_file,
        service_account_key_file=args.service_account_signing_key_file,
        service_account_issuer=args.service_account_issuer, authorization_mode=args.authorization_mode,
        watch=WatchSettings(bookmark_interval=args.bookmark_interval),
        compaction_interval=args.etcd_compaction_interval,
        request_header_timeout=args.request_header_timeout, request_body_timeout=args.request_body_timeout,
        admission=Admission(default_not_ready_toleration_seconds=args.default_not_ready_toleration_seconds,
                            default_unreachable_toleration_seconds=args.default_unreachable_toleration_seconds,
                            service_account="ServiceAccount" in args.enable_admission_plugins),
        service_ranges=ServiceRanges(args.service_cluster_ip_range, args.service_node_port_range),
        advertise_address=args.advertise_address,
        node_restriction=noderestriction.PLUGIN not in args.disable_admission_plugins,
        plain_http_uid=args.plain_http_uid,
        audit=AuditLogOptions(path=args.audit_log_path or None, policy_file=args.audit_policy_file, mode=args.audit_log_mode,
                              max_size_mb=args.audit_log_maxsize, max_backups=args.audit_log_maxbackup,
                              max_age_days=args.audit_log_maxage),
    )


async def serve(config: GatewayConfig) -> None:
    gateway = Gateway(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await gateway.start()
    gateway.build_documents()
    settle_heap()
    print(f"kubelite gateway serving on {gateway.url}", file=sys.stderr, flush=True)
    try:
        await stop.wait()
    finally:
        log.info("gateway stopping", extra={"event": "stopping"})
        await gateway.stop()


# what a user can cause at start: one line and exit 1 (ApiError: etcd unreachable)
USER_ERRORS = (ListenError, OSError, TokenFileError, errors.ApiError)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging("gateway", level=args.log_level)
    try:
        config = config_from_args(args)
        config.check()
    except (ValueError, TokenFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return run_component(serve(config), USER_ERRORS)


if __name__ == "__main__":
    sys.exit(main())
