"""kl up's etcd PKI (up_secure.SecureSetup.etcd_files) renews an expired client certificate at start,
as it renews the serving and peer ones: else, a year after the first start, no component reaches etcd."""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509

from kubelite.auth import pki
from kubelite.cli import up_secure
from kubelite.util import clock


def test_an_expired_etcd_client_certificate_is_reissued(tmp_path: Path) -> None:
    setup = up_secure.prepare(tmp_path, "127.0.0.1")
    files = setup.etcd_files()
    d = files.ca_file.parent
    ca = pki.read_pair(d, "ca")
    assert ca is not None
    expired = pki.issue(ca, common_name="kubelite-etcd-client", days=1,
                        not_before=clock.now() - datetime.timedelta(days=2))
    pki.write_pair(d, "client", expired)

    setup.etcd_files()  # kl up's next start
    renewed = x509.load_pem_x509_certificate(files.client_cert.read_bytes())
    assert renewed.not_valid_after_utc > clock.now()
    unchanged = pki.read_pair(d, "ca")  # the same CA: etcd and every component still agree
    assert unchanged is not None and unchanged.cert_pem == ca.cert_pem
