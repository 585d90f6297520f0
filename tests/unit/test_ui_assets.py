"""The dashboard's packaged files (kubelite/ui/static, read through importlib.resources as the
gateway serves them): vendored libraries as the lock lists them, no inline code, no innerHTML."""

from __future__ import annotations

import json
import re

from kubelite.gateway import ui


def test_every_locked_vendor_file_is_packaged_immutable_with_its_license() -> None:
    assets = ui.assets()
    lock = json.loads(assets["vendor/vendor-lock.json"].body)
    for pkg in lock["packages"]:
        assert re.fullmatch(r"sha512-[A-Za-z0-9+/=]+", pkg["integrity"]), pkg["name"]
        dests = list(pkg["files"].values())
        assert any(d.endswith("/LICENSE") for d in dests), f"{pkg['name']} ships no LICENSE"
        for dest in dests:
            asset = assets[f"vendor/{dest}"]
            assert asset.cache_control == ui.IMMUTABLE
            assert pkg["version"] in dest  # versioned paths: immutable caching is safe


def test_app_files_have_types_and_are_revalidated() -> None:
    assets = ui.assets()
    assert assets["index.html"].content_type == "text/html; charset=utf-8"
    assert assets["js/app.js"].content_type == "text/javascript; charset=utf-8"
    assert assets["app.css"].content_type == "text/css; charset=utf-8"
    assert assets["js/app.js"].cache_control == "no-cache"
    assert ui.is_ui_path("/ui") and ui.is_ui_path("/ui/js/app.js") and not ui.is_ui_path("/uix")


def test_no_inline_code_and_no_innerhtml_in_the_app() -> None:
    """The CSP forbids inline scripts and styles; text from objects goes in as text, never markup."""
    index = ui.assets()["index.html"].body.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)", index), "inline <script> in index.html"
    assert "<style" not in index and " style=" not in index
    assert not re.search(r"\son[a-z]+\s*=", index), "an inline event handler in index.html"
    for path, asset in ui.assets().items():
        if path.startswith("js/"):
            source = asset.body.decode()
            for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
                assert banned not in source, f"{path} uses {banned}"
