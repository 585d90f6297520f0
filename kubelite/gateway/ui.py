"""``/ui/``: the dashboard's static files, read from the package with importlib.resources.

The files hold no cluster data, so they are served without authentication (like
``/healthz``); every API call the page makes goes through the usual
authentication and authorization. Responses carry a Content-Security-Policy
that allows only this origin's scripts, styles and connections (no inline
scripts; inline styles only because the terminal widget needs them), plus nosniff / no-referrer / no framing. Vendored libraries live in
version-named directories and are cached as immutable; the app's own files are
revalidated with an ETag on every load.

Shapes: ``register(router)`` adds ``GET /ui`` (redirect) and ``GET /ui/{path}``;
``is_ui_path(path)`` tells the auth middleware which paths are static.
Errors: an unknown path is the usual 404 Status.
"""

from __future__ import annotations

import functools
import hashlib
import mimetypes
from dataclasses import dataclass
from importlib.resources.abc import Traversable

from aiohttp import web

from kubelite.util import packaged

PREFIX = "/ui/"
# styles may be inline: xterm.js's DOM renderer writes its cell and theme rules into <style>
# elements it creates (docs/ui.md, Security). Scripts stay 'self' only: no inline code, no eval.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css", ".html": "text/html",
          ".json": "application/json", ".svg": "image/svg+xml", ".png": "image/png", ".txt": "text/plain"}
_TEXT = ("text/", "application/json", "image/svg+xml")
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str
    cache_control: str


def is_ui_path(path: str) -> bool:
    return path == "/ui" or path.startswith(PREFIX)


def _content_type(name: str) -> str:
    suffix = name[name.rfind("."):] if "." in name else ""
    media = _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    return f"{media}; charset=utf-8" if media.startswith(_TEXT) else media


@functools.cache
def assets() -> dict[str, Asset]:
    """Every file under kubelite/ui/static, by its path below /ui/ (read once; ~0.7 MB)."""
    found: dict[str, Asset] = {}
    root = packaged.data("kubelite.ui", "static")

    def walk(node: Traversable, prefix: str) -> None:
        for child in node.iterdir():
            rel = f"{prefix}{child.name}"
            if child.is_dir():
                walk(child, rel + "/")
            elif child.is_file():
                body = child.read_bytes()
                cache = IMMUTABLE if rel.startswith("vendor/") else "no-cache"
                found[rel] = Asset(body, _content_type(rel), f'"{hashlib.sha256(body).hexdigest()[:20]}"', cache)

    walk(root, "")
    return found


async def redirect(request: web.Request) -> web.StreamResponse:
    raise web.HTTPMovedPermanently(PREFIX)


async def serve(request: web.Request) -> web.StreamResponse:
    rel = request.match_info["path"] or "index.html"
    asset = assets().get(rel)
    if asset is None or ".." in rel.split("/"):
        raise web.HTTPNotFound()
    headers = {**SECURITY_HEADERS, "ETag": asset.etag, "Cache-Control": asset.cache_control}
    if asset.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    headers["Content-Type"] = asset.content_type
    return web.Response(body=asset.body, headers=headers)


def register(router: web.UrlDispatcher) -> None:
    router.add_get("/ui", redirect)
    router.add_get(PREFIX + "{path:.*}", serve)
