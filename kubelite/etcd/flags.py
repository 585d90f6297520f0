"""The etcd connection flags every kubelite process takes, spelled as kube-apiserver spells them."""

from __future__ import annotations

import argparse

import dataclasses

from kubelite.etcd.encryption import Encryption, load_config
from kubelite.etcd.encryption_reload import ReloadingEncryption
from kubelite.etcd.client import EtcdConfig


def add_etcd_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("etcd")
    group.add_argument("--etcd-endpoints", help="comma-separated HOST:PORT list (default: $KUBELITE_ETCD_ENDPOINTS "
                                                "or 127.0.0.1:2379)")
    group.add_argument("--etcd-timeout", type=float, default=5.0, help="deadline of every etcd call, seconds")
    group.add_argument("--etcd-cafile", help="CA bundle to verify etcd's certificate (turns on TLS)")
    group.add_argument("--etcd-certfile", help="client certificate for etcd TLS")
    group.add_argument("--etcd-keyfile", help="client key for etcd TLS")
    group.add_argument("--etcd-user", help="etcd user name (password from --etcd-password-file or "
                                           "$KUBELITE_ETCD_PASSWORD, never the command line)")
    group.add_argument("--etcd-password-file", help="file holding the etcd user's password")
    group.add_argument("--encryption-provider-config", metavar="FILE",
                       help="kube-apiserver's EncryptionConfiguration (aescbc, secretbox, identity): encrypt the "
                            "listed resources at rest; every process that reads them needs the same file")
    group.add_argument("--encryption-provider-config-automatic-reload", action="store_true",
                       help="re-read --encryption-provider-config when its content changes (checked every "
                            "5 s); a bad file is logged and the previous configuration kept")


def etcd_config_from_args(args: argparse.Namespace) -> EtcdConfig:
    """The flags as an EtcdConfig; a bad encryption file exits with one line naming the flag."""
    config = EtcdConfig.from_options(
        args.etcd_endpoints, timeout=args.etcd_timeout, ca_file=args.etcd_cafile, cert_file=args.etcd_certfile,
        key_file=args.etcd_keyfile, username=args.etcd_user, password_file=args.etcd_password_file,
    )
    path = getattr(args, "encryption_provider_config", None)
    if not path:
        return config
    try:
        if getattr(args, "encryption_provider_config_automatic_reload", False):
            encryption: Encryption = ReloadingEncryption.load(path)
        else:
            encryption = load_config(path)
    except ValueError as exc:
        raise SystemExit(f"error: --encryption-provider-config {path}: {exc}") from None
    return dataclasses.replace(config, encryption=encryption)
