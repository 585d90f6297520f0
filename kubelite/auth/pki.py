"""A cluster's certificate authority and the certificates ``kl up`` issues from it (the
``cryptography`` library: X.509 building and ECDSA P-256 keys, nothing home-made).

As kubeadm lays out ``/etc/kubernetes/pki``: ``ca.crt``/``ca.key`` (10 years),
``apiserver.crt``/``apiserver.key`` (the gateway's serving certificate for its
host names and IPs, 1 year) and ``admin.crt``/``admin.key`` (a client
certificate: CN ``kubernetes-admin``, O ``system:masters``, 1 year). Keys are
written mode 0600. Files already present are kept (a restart of ``kl up``
keeps the kubeconfigs users copied); rotation: docs/security.md.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubelite.util import clock

CA_DAYS = 3650
LEAF_DAYS = 365
ADMIN_USER = "kubernetes-admin"
ADMIN_GROUP = "system:masters"


@dataclass(frozen=True)
class Issued:
    cert_pem: bytes
    key_pem: bytes


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def new_ca(common_name: str = "kubernetes", *, days: int = CA_DAYS) -> Issued:
    """A self-signed CA certificate and its key (PEM)."""
    key = _key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = clock.now()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def issue(ca: Issued, *, common_name: str, organizations: tuple[str, ...] = (), hosts: tuple[str, ...] = (),
          server: bool = False, peer: bool = False, days: int = LEAF_DAYS,
          not_before: datetime.datetime | None = None) -> Issued:
    """A leaf certificate signed by ``ca``: a client certificate (CN user, O groups), or with
    ``server`` a serving certificate for ``hosts`` (IP addresses or DNS names), or with ``peer`` one for
    both (an etcd member's peer certificate: it serves and dials, as kubeadm's ``etcd/peer``)."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key is not an ECDSA key")
    key = _key()
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    start = not_before or clock.now() - datetime.timedelta(minutes=5)
    builder = (x509.CertificateBuilder().subject_name(x509.Name(attributes)).issuer_name(ca_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage(
                   [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH] if peer
                   else [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
                   critical=False))
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def write_pair(directory: Path, stem: str, pair: Issued) -> None:
    """``<stem>.crt`` (0644) and ``<stem>.key`` (0600), each written atomically."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for suffix, data, mode in ((".key", pair.key_pem, 0o600), (".crt", pair.cert_pem, 0o644)):
        path = directory / f"{stem}{suffix}"
        tmp = directory / f".{stem}{suffix}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)


def read_pair(directory: Path, stem: str) -> Issued | None:
    try:
        return Issued((directory / f"{stem}.crt").read_bytes(), (directory / f"{stem}.key").read_bytes())
    except FileNotFoundError:
        return None


def ensure_cluster_pki(directory: Path, hosts: tuple[str, ...]) -> dict[str, Issued]:
    """The CA, the serving certificate for ``hosts`` and the admin client certificate in
    ``directory`` (made when absent; a serving certificate lacking one of ``hosts`` is reissued)."""
    ca = read_pair(directory, "ca")
    if ca is None:
        ca = new_ca()
        write_pair(directory, "ca", ca)
    serving = read_pair(directory, "apiserver")
    if serving is None or not covers_hosts(serving, hosts):
        serving = issue(ca, common_name="kube-apiserver", hosts=hosts, server=True)
        write_pair(directory, "apiserver", serving)
    admin = read_pair(directory, "admin")
    if admin is None:
        admin = issue(ca, common_name=ADMIN_USER, organizations=(ADMIN_GROUP,))
        write_pair(directory, "admin", admin)
    return {"ca": ca, "apiserver": serving, "admin": admin}


def covers_hosts(pair: Issued, hosts: tuple[str, ...]) -> bool:
    """Whether a serving certificate names every one of ``hosts`` and is still valid."""
    cert = x509.load_pem_x509_certificate(pair.cert_pem)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    present = {str(v) for v in san.get_values_for_type(x509.IPAddress)} | set(san.get_values_for_type(x509.DNSName))
    return set(hosts) <= present and still_valid(pair)


def still_valid(pair: Issued) -> bool:
    """Whether a certificate has not expired yet."""
    return x509.load_pem_x509_certificate(pair.cert_pem).not_valid_after_utc > clock.now()
