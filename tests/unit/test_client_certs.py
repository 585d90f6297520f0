"""Client certificate checks of kubelite.gateway.client_certs (the end-to-end 401s:
tests/security/test_gateway_x509_rbac.py)."""

from __future__ import annotations

import datetime
import ssl

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from kubelite.auth import pki
from kubelite.gateway.auth import User
from kubelite.gateway.client_certs import ClientCertVerifier, request_client_certificates


def der(issued: pki.Issued) -> bytes:
    return x509.load_pem_x509_certificate(issued.cert_pem).public_bytes(Encoding.DER)


def test_only_certificates_of_the_client_ca_in_date_for_client_auth() -> None:
    ca, other = pki.new_ca(), pki.new_ca()  # both named "kubernetes": only the signature tells them apart
    now = datetime.datetime.now(datetime.UTC)
    clock = [now]
    verifier = ClientCertVerifier(ca.cert_pem, clock=lambda: clock[0])
    alice = pki.issue(ca, common_name="alice", organizations=("devs", "ops"))
    assert verifier.user(der(alice)) == User("alice", groups=("devs", "ops"))
    assert verifier.user(der(pki.issue(other, common_name="alice"))) is None
    assert verifier.user(der(pki.issue(ca, common_name="srv", hosts=("127.0.0.1",), server=True))) is None
    assert verifier.user(b"not a certificate") is None
    later = pki.issue(ca, common_name="later", days=2, not_before=now + datetime.timedelta(days=1))
    assert verifier.user(der(later)) is None
    clock[0] = now + datetime.timedelta(days=1, hours=1)  # in date now: a date failure is not remembered
    assert verifier.user(der(later)) == User("later")
    clock[0] = now + datetime.timedelta(days=400)  # alice's year is over, even though she was verified before
    assert verifier.user(der(alice)) is None
    both = ClientCertVerifier(ca.cert_pem + other.cert_pem)  # a bundle: each is a trust anchor
    assert both.user(der(pki.issue(other, common_name="bob"))) == User("bob")


def test_the_tls_layer_lets_any_certificate_through_on_this_python() -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    assert request_client_certificates(context) is True
    assert context.verify_mode == ssl.CERT_OPTIONAL
