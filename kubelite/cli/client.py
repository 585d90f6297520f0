"""A small synchronous HTTP client for the gateway (Kubernetes REST conventions).

Synchronous on purpose: each ``kl`` command makes a handful of requests, and
watch/log streams are read line by line. Proxies from the environment are
ignored (the gateway is usually on 127.0.0.1).
"""

from __future__ import annotations

import json
import re
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kubelite.cli.errors import ApiStatusError, CliError, ServerUnreachable

TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
USER_AGENT = "kl/0.1 (kubelite)"

Params = Mapping[str, str | int | bool | None]


@dataclass(frozen=True)
class Connection:
    server: str = "http://127.0.0.1:8080"
    token: str | None = None
    insecure: bool = False
    namespace: str = "default"
    ca_file: str | None = None
    ca_pem: str | None = None  # PEM text (a kubeconfig's certificate-authority-data, decoded)
    client_cert_pem: str | None = None  # an x509 client certificate and its key, PEM text
    client_key_pem: str | None = None


def _load_client_cert(ctx: ssl.SSLContext, cert_pem: str, key_pem: str) -> None:
    """ssl loads certificates from files only: a private temporary directory, removed at once."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="kl-cert-") as tmp:
        cert, key = Path(tmp) / "client.crt", Path(tmp) / "client.key"
        cert.write_text(cert_pem)
        key.touch(mode=0o600)
        key.write_text(key_pem)
        try:
            ctx.load_cert_chain(cert, key)
        except ssl.SSLError:
            raise CliError("the kubeconfig's client certificate and key do not load (not PEM, or not a pair)") from None


def build_url(server: str, path: str, params: Params | None = None) -> str:
    query = {k: _param(v) for k, v in (params or {}).items() if v is not None and v != ""}
    url = server.rstrip("/") + path
    return f"{url}?{urllib.parse.urlencode(query)}" if query else url


def _param(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class ApiClient:
    """Requests to one gateway; failures raise :class:`ApiStatusError` or :class:`ServerUnreachable`."""

    def __init__(self, conn: Connection, *, timeout: float = 30.0) -> None:
        self.conn = conn
        self.timeout = timeout
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
        if conn.insecure or conn.ca_file or conn.ca_pem or conn.client_cert_pem:
            ctx = ssl.create_default_context(cafile=conn.ca_file, cadata=conn.ca_pem)
            if conn.insecure:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            if conn.client_cert_pem and conn.client_key_pem:
                _load_client_cert(ctx, conn.client_cert_pem, conn.client_key_pem)
            handlers.append(urllib.request.HTTPSHandler(context=ctx))
        self._opener = urllib.request.build_opener(*handlers)
        self._warned: set[str] = set()
        self.on_warning: Callable[[str], None] = lambda text: print(f"Warning: {text}", file=sys.stderr)

    # -- verbs ---------------------------------------------------------------

    def get(self, path: str, params: Params | None = None, *, accept: str = "application/json") -> Any:
        return self.request("GET", path, params=params, accept=accept)

    def post(self, path: str, body: Any, params: Params | None = None) -> Any:
        return self.request("POST", path, params=params, body=body)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body=body)

    def patch(self, path: str, body: Any, *, content_type: str = MERGE_PATCH) -> Any:
        return self.request("PATCH", path, body=body, content_type=content_type)

    def delete(self, path: str, params: Params | None = None) -> Any:
        return self.request("DELETE", path, params=params)

    def request(
        self, method: str, path: str, *, params: Params | None = None, body: Any = None,
        content_type: str = "application/json", accept: str = "application/json",
    ) -> Any:
        with self._open(method, path, params=params, body=body, content_type=content_type,
                        accept=accept, timeout=self.timeout) as resp:
            raw = resp.read()
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode(errors="replace")

    def stream(self, path: str, params: Params | None = None, *, accept: str = "application/json",
               timeout: float | None = None) -> Iterator[bytes]:
        """The response body line by line (watch events, followed logs)."""
        with self._open("GET", path, params=params, body=None, content_type="application/json",
                        accept=accept, timeout=timeout) as resp:
            while True:
                try:
                    line = resp.readline()
                except TimeoutError:
                    return  # the caller's deadline: it decides what an idle stream means
                except (OSError, urllib.error.URLError) as exc:
                    raise ServerUnreachable(self.conn.server, _describe(exc)) from None
                if not line:
                    return
                yield line

    def watch(self, path: str, params: Params | None = None, *, accept: str = "application/json",
              timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Watch events ``{"type", "object"}``; a 410 ERROR event raises ApiStatusError."""
        query = dict(params or {})
        query["watch"] = "true"
        for line in self.stream(path, query, accept=accept, timeout=timeout):
            if not line.strip():
                continue
            event = json.loads(line)
            if event.get("type") == "ERROR":
                obj = event.get("object") or {}
                raise ApiStatusError(obj, http_code=int(obj.get("code") or 500))
            yield event

    # -- plumbing ------------------------------------------------------------

    def _open(self, method: str, path: str, *, params: Params | None, body: Any, content_type: str,
              accept: str, timeout: float | None) -> Any:
        url = build_url(self.conn.server, path, params)
        data = None
        headers = {"Accept": accept, "User-Agent": USER_AGENT}
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        if self.conn.token:
            headers["Authorization"] = f"Bearer {self.conn.token}"
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            resp = self._opener.open(req, timeout=timeout)
        except urllib.error.HTTPError as exc:
            self._warn(exc.headers)
            raise _status_error(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ServerUnreachable(self.conn.server, _describe(exc)) from None
        self._warn(resp.headers)
        return resp

    def _warn(self, headers: Any) -> None:
        """Show the server's ``Warning`` headers (e.g. unknown fields) as kubectl does."""
        for value in (headers.get_all("Warning") or []) if headers is not None else []:
            text = parse_warning(value)
            if text and text not in self._warned:
                self._warned.add(text)
                self.on_warning(text)


def parse_warning(value: str) -> str:
    """``299 - "unknown field \\"spec.foo\\""`` → ``unknown field "spec.foo"``."""
    match = re.match(r'^\s*\d{3}\s+\S+\s+"((?:[^"\\]|\\.)*)"', value)
    if not match:
        return value.strip()
    return re.sub(r'\\(.)', r'\1', match.group(1))


def _describe(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason if reason is not None else exc) or type(exc).__name__


def _status_error(exc: urllib.error.HTTPError) -> ApiStatusError:
    try:
        raw = exc.read()
    except OSError:
        raw = b""
    try:
        status = json.loads(raw) if raw else {}
    except ValueError:
        status = {}
    if not isinstance(status, dict) or status.get("kind") != "Status":
        text = raw.decode(errors="replace").strip().splitlines()
        message = text[0] if text else (exc.reason or f"HTTP {exc.code}")
        status = {"code": exc.code, "reason": _REASONS.get(exc.code, ""), "message": str(message)}
    return ApiStatusError(status, http_code=exc.code)


_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
            405: "MethodNotAllowed", 409: "Conflict", 410: "Expired", 415: "UnsupportedMediaType",
            422: "Invalid", 500: "InternalError", 503: "ServiceUnavailable"}
