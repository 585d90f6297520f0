"""x509 client certificates as kube-apiserver takes them: asked for, not required, then verified.

kube-apiserver's TLS layer requests a client certificate without verifying it (Go's
``tls.RequestClientCert``); its x509 authenticator verifies the chain against ``--client-ca-file``
afterwards, so a certificate from another CA, expired or not yet valid, gets kube's 401 Status
instead of a failed handshake. The handshake itself still proves the client holds the
certificate's key (TLS CertificateVerify), whatever the verification says.

Python's ``ssl`` has no "request but do not verify" mode, and with ``CERT_OPTIONAL`` an
unverifiable certificate fails the handshake. :func:`request_client_certificates` therefore
replaces OpenSSL's chain verification on the context (``SSL_CTX_set_cert_verify_callback``, called
through ``ctypes`` on the ``SSL_CTX`` behind the ``SSLContext``) with one that accepts; it checks
the pointer first (the verify mode OpenSSL reports must follow ``SSLContext.verify_mode``) and
does nothing when that check fails (then foreign certificates fail the handshake, as before).
:class:`ClientCertVerifier` then checks every presented certificate with the ``cryptography``
library before its subject is believed (CN = user, each O = a group): signed by one of the
``--client-ca-file`` certificates (``verify_directly_issued_by``: issuer name and signature), in
date at the request's time, and, when it has an extended key usage, one allowing client
authentication (as Go's x509 verification with ``ExtKeyUsageClientAuth``). Python 3.11's ``ssl``
gives the gateway only the leaf, not the chain the client sent: an intermediate CA that issues
client certificates goes in the ``--client-ca-file`` bundle (every certificate there is a trust
anchor, as in kube's CA pool). cryptography's full path validation is not used because its
web-PKI profile refuses certificates without an authority key identifier, which kube accepts.
"""

from __future__ import annotations

import _ssl
import ctypes
import datetime
import hashlib
import logging
import ssl
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubelite.gateway.auth import User
from kubelite.util.clock import now as clock_now

log = logging.getLogger(__name__)

_SSL_VERIFY_PEER = 0x01
_SSL_VERIFY_FAIL_IF_NO_PEER_CERT = 0x02
_CACHE_SIZE = 1024

# int (*cb)(X509_STORE_CTX *, void *arg): 1 accepts the chain. Kept alive for the process's life: OpenSSL
# holds only the C pointer.
_ACCEPT_TYPE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
_ACCEPT = _ACCEPT_TYPE(lambda store_ctx, arg: 1)


def _ssl_ctx_pointer(context: ssl.SSLContext) -> int | None:
    """The ``SSL_CTX *`` of a context (CPython's PySSLContext: the first field after PyObject_HEAD),
    checked against the verify mode OpenSSL reports for both settings; None when it does not match."""
    lib = ctypes.CDLL(_ssl.__file__)  # its libssl symbols resolve through the extension module
    lib.SSL_CTX_get_verify_mode.argtypes = [ctypes.c_void_p]
    lib.SSL_CTX_get_verify_mode.restype = ctypes.c_int
    pointer = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value
    if not pointer:
        return None
    wanted = context.verify_mode
    try:
        checks = []
        for mode, bits in ((ssl.CERT_REQUIRED, _SSL_VERIFY_PEER | _SSL_VERIFY_FAIL_IF_NO_PEER_CERT),
                           (ssl.CERT_OPTIONAL, _SSL_VERIFY_PEER)):
            context.verify_mode = mode
            checks.append(lib.SSL_CTX_get_verify_mode(pointer) & 0x03 == bits)
    finally:
        context.verify_mode = wanted
    return pointer if all(checks) else None


def request_client_certificates(context: ssl.SSLContext) -> bool:
    """Ask every client for a certificate and let any through the handshake (the gateway verifies it,
    :class:`ClientCertVerifier`); False when this Python's ``ssl`` could not be adjusted."""
    context.verify_mode = ssl.CERT_OPTIONAL
    pointer = _ssl_ctx_pointer(context)
    if pointer is None:
        log.warning("could not reach OpenSSL's context: a client certificate from another CA fails the TLS "
                    "handshake instead of getting 401")
        return False
    lib = ctypes.CDLL(_ssl.__file__)
    lib.SSL_CTX_set_cert_verify_callback.argtypes = [ctypes.c_void_p, _ACCEPT_TYPE, ctypes.c_void_p]
    lib.SSL_CTX_set_cert_verify_callback.restype = None
    lib.SSL_CTX_set_cert_verify_callback(pointer, _ACCEPT, None)
    return True


@dataclass(frozen=True)
class _Checked:
    user: User | None
    not_before: datetime.datetime
    not_after: datetime.datetime


class ClientCertVerifier:
    """Who a presented client certificate (DER) names, if it chains to one of the client CAs and is in
    date now; results kept for the last 1024 certificates (the dates are re-checked on every use)."""

    def __init__(self, ca_pem: bytes, *, clock: Callable[[], datetime.datetime] | None = None) -> None:
        self._roots = x509.load_pem_x509_certificates(ca_pem)  # ValueError: not PEM certificates
        self._clock = clock or clock_now
        self._cache: OrderedDict[bytes, _Checked] = OrderedDict()

    @classmethod
    def from_file(cls, path: str) -> ClientCertVerifier:
        with open(path, "rb") as f:
            return cls(f.read())

    def user(self, der: bytes) -> User | None:
        """The certificate's user (CN, groups from O), or None when it does not verify."""
        now = self._clock()
        key = hashlib.sha256(der).digest()
        checked = self._cache.get(key)
        if checked is None:
            checked = self._check(der, now)
            if checked.user is not None or checked.not_before <= now <= checked.not_after:  # not a date failure
                self._cache[key] = checked
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        if checked.user is None or not checked.not_before <= now <= checked.not_after:
            return None
        return checked.user

    def _check(self, der: bytes, now: datetime.datetime) -> _Checked:
        epoch = datetime.datetime.min.replace(tzinfo=datetime.UTC)
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            return _Checked(None, epoch, epoch)
        span = (cert.not_valid_before_utc, cert.not_valid_after_utc)
        if not any(_issued_by(cert, root) for root in self._roots) or not _allows_client_auth(cert):
            return _Checked(None, *span)
        names = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        if not names or not isinstance(names[0], str) or not names[0]:
            return _Checked(None, *span)
        groups = tuple(str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
        return _Checked(User(names[0], groups=groups), *span)


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _allows_client_auth(cert: x509.Certificate) -> bool:
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return ExtendedKeyUsageOID.CLIENT_AUTH in usages or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages
