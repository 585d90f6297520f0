"""The proxy subresources' pure parts: kube's [scheme:]name[:port] and a Service port → an endpoint."""

from __future__ import annotations

import pytest

from kubelite.api import errors
from kubelite.gateway.proxy import check_proxyable, service_endpoint, split_name


@pytest.mark.parametrize(("raw", "parts"), [
    ("web", ("http", "web", "")), ("web:8080", ("http", "web", "8080")), ("web:http", ("http", "web", "http")),
    ("https:web:443", ("https", "web", "443")), ("https:web", ("https", "web", "")), ("http:web:", ("http", "web", "")),
])
def test_names_split_as_kube_reads_them(raw: str, parts: tuple[str, str, str]) -> None:
    assert split_name(raw) == parts


def test_a_bad_scheme_is_a_400() -> None:
    with pytest.raises(errors.ApiError) as caught:
        split_name("ftp:web:21")
    assert caught.value.code == 400


SERVICE = {"metadata": {"name": "web"}, "spec": {"ports": [{"name": "http", "port": 80}, {"name": "admin", "port": 81}]}}
SLICES = [{"ports": [{"name": "http", "port": 8080}, {"name": "admin", "port": 9000}],
           "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}},
                         {"addresses": ["10.0.0.2"], "conditions": {"ready": False}}]}]


def test_a_service_port_by_name_or_number_reaches_a_ready_endpoint_at_its_target() -> None:
    assert service_endpoint(SERVICE, SLICES, "http", choose=lambda c: c[0]) == ("10.0.0.1", 8080)
    assert service_endpoint(SERVICE, SLICES, "81", choose=lambda c: c[-1]) == ("10.0.0.1", 9000)  # unready left out


def test_no_port_named_no_endpoint_and_ambiguous_ports_are_refused() -> None:
    for port, code in (("nope", 400), ("", 400)):
        with pytest.raises(errors.ApiError) as caught:
            service_endpoint(SERVICE, SLICES, port)
        assert caught.value.code == code
    with pytest.raises(errors.ApiError) as caught:
        service_endpoint({"metadata": {"name": "x"}, "spec": {"ports": [{"port": 80}]}}, [], "")
    assert caught.value.code == 503 and "no endpoints available" in caught.value.status.message


@pytest.mark.parametrize(("address", "allowed"), [
    ("10.0.0.1", True), ("172.17.0.5", True), ("fd00::5", True), ("2001:db8::1", True),
    ("127.0.0.1", False), ("127.1.2.3", False), ("::1", False), ("::ffff:127.0.0.1", False), ("0.0.0.0", False),
    ("::", False), ("169.254.169.254", False), ("fe80::1", False), ("224.0.0.1", False), ("localhost", False),
])
def test_only_addresses_off_this_host_are_proxied(address: str, allowed: bool) -> None:
    """kube's proxyutil.IsProxyableIP: the gateway must not be made to call its own host's loopback."""
    if allowed:
        check_proxyable(address)
        return
    with pytest.raises(errors.ApiError) as caught:
        check_proxyable(address)
    assert caught.value.code == 400 and "address not allowed" in str(caught.value)
