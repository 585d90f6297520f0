"""The HTTP client against a stub server: Status errors become one line, warnings
are shown, streams are read line by line. (Not an end-to-end test: the stub
only answers fixed documents.)"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kubelite.cli.client import ApiClient, Connection, build_url, parse_warning
from kubelite.cli.errors import ApiStatusError, ServerUnreachable
from kubelite.etcd.server import free_port


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: object, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        if self.path.startswith("/missing"):
            self._send(404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404,
                             "message": 'deployments.apps "web" not found'})
        elif self.path.startswith("/auth"):
            assert self.headers["Authorization"] == "Bearer s3cret"
            self._send(200, {"ok": True}, {"Warning": '299 - "unknown field \\"spec.foo\\""'})
        elif self.path.startswith("/watch"):
            lines = b"".join(json.dumps({"type": "ADDED", "object": {"n": i}}).encode() + b"\n" for i in range(3))
            self.send_response(200)
            self.send_header("Content-Length", str(len(lines)))
            self.end_headers()
            self.wfile.write(lines)
        else:
            self.send_response(500)
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"boom!")


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_status_error_is_one_line(server: str) -> None:
    client = ApiClient(Connection(server=server))
    with pytest.raises(ApiStatusError) as info:
        client.get("/missing")
    assert info.value.code == 404
    assert info.value.line() == 'Error from server (NotFound): deployments.apps "web" not found'
    with pytest.raises(ApiStatusError) as info:
        client.get("/other")
    assert info.value.line() == "Error from server (InternalError): boom!"


def test_token_and_warnings(server: str) -> None:
    client = ApiClient(Connection(server=server, token="s3cret"))
    seen: list[str] = []
    client.on_warning = seen.append
    assert client.get("/auth") == {"ok": True}
    assert seen == ['unknown field "spec.foo"']


def test_watch_lines(server: str) -> None:
    client = ApiClient(Connection(server=server))
    assert [e["object"]["n"] for e in client.watch("/watch")] == [0, 1, 2]


def test_unreachable_server() -> None:
    client = ApiClient(Connection(server=f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(ServerUnreachable, match="refused"):
        client.get("/version")


def test_url_and_warning_parsing() -> None:
    assert build_url("http://h:1/", "/api/v1/pods", {"labelSelector": "app=web", "watch": True, "x": None}) == \
        "http://h:1/api/v1/pods?labelSelector=app%3Dweb&watch=true"
    assert parse_warning('299 - "a \\"b\\" c"') == 'a "b" c'
    assert parse_warning("plain") == "plain"
