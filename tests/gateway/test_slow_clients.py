"""Slow clients (slowloris) over real sockets: half-sent headers or a body that never finishes are cut off
within the gateway's timeouts, while other clients are served meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aiohttp
import pytest

from kubelite.etcd.server import EmbeddedEtcd
from kubelite.gateway import Gateway
from kubelite.gateway.__main__ import config_from_args, parse_args
from tests.gateway.conftest import gateway_config, stop_or_explain

pytestmark = pytest.mark.timeout(60)
HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
SLACK = 2.5  # seconds beyond the timeout a loaded 2-core machine may take to close


@pytest.fixture
async def strict_gateway(etcd: EmbeddedEtcd) -> AsyncIterator[Gateway]:
    gw = Gateway(gateway_config(etcd, request_header_timeout=HEADER_TIMEOUT, request_body_timeout=BODY_TIMEOUT))
    await gw.start()
    try:
        yield gw
    finally:
        await stop_or_explain(gw)


async def connect(gateway: Gateway) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    url = urlsplit(gateway.url)
    return await asyncio.open_connection(url.hostname, url.port)


async def closed_after(reader: asyncio.StreamReader, limit: float) -> tuple[float, bytes]:
    """Seconds until the server closes the connection, and what it sent before."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    received = b""
    async with asyncio.timeout(limit):
        try:
            while chunk := await reader.read(65536):
                received += chunk
        except ConnectionResetError:
            pass  # closed while the client was still writing: the kernel answers with a reset
    return loop.time() - started, received


async def served_meanwhile(gateway: Gateway, until: asyncio.Task[object]) -> int:
    """Other clients' requests while a slow client hangs on: each must succeed promptly."""
    served = 0
    async with aiohttp.ClientSession(base_url=gateway.url, timeout=aiohttp.ClientTimeout(total=2)) as api:
        while not until.done():
            async with api.get("/api/v1/namespaces") as r:
                assert r.status == 200
            served += 1
            await asyncio.sleep(0.05)
    return served


def test_timeouts_default_to_kube_apiservers_and_are_flags() -> None:
    config = config_from_args(parse_args([]))
    assert (config.request_header_timeout, config.request_body_timeout) == (32.0, 60.0)
    config = config_from_args(parse_args(["--request-header-timeout", "5", "--request-body-timeout", "7"]))
    assert (config.request_header_timeout, config.request_body_timeout) == (5.0, 7.0)
    with pytest.raises(ValueError, match="--request-header-timeout"):
        config_from_args(parse_args(["--request-header-timeout", "0"])).check()


async def test_half_sent_headers_are_cut_off_while_others_are_served(strict_gateway: Gateway) -> None:
    reader, writer = await connect(strict_gateway)
    writer.write(b"GET /api/v1/namespaces HTTP/1.1\r\nHost: kubelite\r\nAccept: application/json\r\n")
    await writer.drain()
    closing = asyncio.create_task(closed_after(reader, HEADER_TIMEOUT + SLACK))
    served = await served_meanwhile(strict_gateway, closing)
    took, received = await closing
    writer.close()
    assert received == b"" and took <= HEADER_TIMEOUT + SLACK
    assert served >= 3


async def test_headers_trickled_byte_by_byte_are_cut_off_too(strict_gateway: Gateway) -> None:
    """The deadline holds from the start: bytes arriving slowly do not extend it."""
    reader, writer = await connect(strict_gateway)
    closing = asyncio.create_task(closed_after(reader, HEADER_TIMEOUT + SLACK))
    request = b"GET /api/v1/namespaces HTTP/1.1\r\nHost: kubelite\r\nX-Slow: " + b"a" * 200
    for byte in request:
        if closing.done():
            break
        try:
            writer.write(bytes([byte]))
            await writer.drain()
        except ConnectionError:
            break
        await asyncio.sleep(0.05)
    took, received = await closing
    writer.close()
    assert received == b"" and took <= HEADER_TIMEOUT + SLACK


async def test_an_idle_connection_is_closed_after_its_last_response(strict_gateway: Gateway) -> None:
    reader, writer = await connect(strict_gateway)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: kubelite\r\n\r\n")
    await writer.drain()
    took, received = await closed_after(reader, HEADER_TIMEOUT + SLACK + 1)
    writer.close()
    assert received.startswith(b"HTTP/1.1 200") and took <= HEADER_TIMEOUT + SLACK + 1


async def test_a_body_that_never_finishes_gets_408_while_others_are_served(strict_gateway: Gateway) -> None:
    reader, writer = await connect(strict_gateway)
    writer.write(b"POST /api/v1/namespaces HTTP/1.1\r\nHost: kubelite\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 200\r\n\r\n{\"apiVersion\": \"v1\",")
    await writer.drain()
    closing = asyncio.create_task(closed_after(reader, BODY_TIMEOUT + SLACK + 2))  # + the 2 s drain
    served = await served_meanwhile(strict_gateway, closing)
    _, received = await closing
    writer.close()
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), received[:300]
    assert b'"reason":"Timeout"' in body.replace(b" ", b"") and b"did not arrive within 1 s" in body
    assert served >= 3
