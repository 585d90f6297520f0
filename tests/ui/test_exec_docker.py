"""The pod pane's exec terminal in real Chromium, on the docker runtime: a shell in a real container
through a token-protected gateway (the page authenticates the WebSocket with kube-apiserver's
``base64url.bearer.authorization.k8s.io.`` subprotocol). One `kl up --runtime docker` cluster, one test."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, sync_playwright

from tests.cli.cluster import KlUp, run_sync
from tests.ui.test_dashboard import CHROMIUM, INIT, TIMEOUT_MS, SecondGateway, api

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]

TOKEN = "ui-exec-token"  # noqa: S105 - a test credential
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "shell", "namespace": "default"},
       "spec": {"terminationGracePeriodSeconds": 1, "containers": [
           {"name": "main", "image": "kubelite/demo:latest", "imagePullPolicy": "Never", "command": ["sleep", "3600"]}]}}


@pytest.fixture(scope="module")
def docker_cluster(tmp_path_factory: pytest.TempPathFactory, demo_image: str) -> Iterator[KlUp]:
    up = KlUp(tmp_path_factory.mktemp("ui-exec") / "data", ["--runtime", "docker", "--nodes", "1"])
    up.start()
    try:
        run_sync(up.wait_up())
        yield up
        assert up.stop() == 0, up.output()
    finally:
        up.stop()
        up.kill_leftovers()


def _running(up: KlUp) -> bool:
    _, pod = api(up, "GET", "/api/v1/namespaces/default/pods/shell")
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return bool(statuses) and "running" in (statuses[0].get("state") or {})


def open_terminal(page: Page, console: list[str]) -> None:
    """Click "Open terminal" until the terminal says it is connected. Chromium fails a connection in
    flight with ERR_NETWORK_CHANGED when an interface comes or goes on the machine (other tests'
    containers): only that earns another click, at most two. Otherwise the page's status and console
    are the failure's message (CI once waited 60 s for "connected" with nothing to show for it)."""
    for attempt in range(3):
        changed = sum("ERR_NETWORK_CHANGED" in line for line in console)
        page.locator(".detail button", has_text="Open terminal").click()
        try:
            page.wait_for_function("() => { const s = document.querySelector('.exec-status');"
                                   " return s.textContent === 'connected' || s.dataset.exit === 'refused'; }")
        except PlaywrightError:
            raise AssertionError(f"the terminal neither connected nor failed: {page.inner_text('.exec-status')!r}; "
                                 f"console: {console}") from None
        if page.inner_text(".exec-status") == "connected":
            return
        if attempt == 2 or sum("ERR_NETWORK_CHANGED" in line for line in console) == changed:
            raise AssertionError(f"the terminal could not connect: {page.inner_text('.exec-status')!r}; "
                                 f"console: {console}")


def test_terminal_runs_a_shell_in_the_container(docker_cluster: KlUp, tmp_path: Path) -> None:
    code, body = api(docker_cluster, "POST", "/api/v1/namespaces/default/pods", POD)
    assert code == 201, body
    deadline = time.monotonic() + 90  # (Playwright's loop runs in this thread: a deadline, not a sleep)
    while not _running(docker_cluster):
        assert time.monotonic() < deadline, "pod shell never ran"
        time.sleep(0.2)
    tokens = tmp_path / "tokens.csv"
    tokens.write_text(f'{TOKEN},admin,1,"system:masters"\n')
    gateway = SecondGateway(docker_cluster, tmp_path, "--token-file", str(tokens),
                            "--agent-secret-file", str(docker_cluster.data_dir / "agent-secret"))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            gateway.start()
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.add_init_script(INIT)
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            urls: list[str] = []
            page.on("request", lambda r: urls.append(r.url))
            sockets: list[str] = []
            page.on("websocket", lambda ws: sockets.append(ws.url))
            console: list[str] = []
            page.on("console", lambda message: console.append(message.text))
            page.goto(f"{gateway.server}/ui/#/pods")
            page.fill("dialog[open] input[type=password]", TOKEN)
            page.click("dialog[open] button[value=ok]")
            page.locator("table:has(caption:text-is('Pods')) tbody tr", has_text="shell").first.click()
            open_terminal(page, console)

            def run(line: str, expect: str) -> None:
                page.locator(".exec-screen .xterm").click()
                page.keyboard.type(line)
                page.keyboard.press("Enter")
                page.wait_for_function("t => document.querySelector('.exec-screen .xterm-rows').textContent.includes(t)",
                                       arg=expect)

            run("echo hello-$((6*7))", "hello-42")  # the echoed line says $((6*7)): only the shell says 42
            shots = Path(os.environ.get("KUBELITE_UI_SHOTS") or tmp_path)  # as tests/ui/test_dashboard.py
            shots.mkdir(parents=True, exist_ok=True)
            page.locator(".exec-screen").scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "pod-terminal.png"))
            # the terminal's size reached the shell's tty (channel 4), and follows a resize of the page
            run("stty size", page.evaluate("document.querySelector('.exec-screen').dataset.size"))
            before = page.evaluate("document.querySelector('.exec-screen').dataset.size")
            page.set_viewport_size({"width": 900, "height": 700})
            page.wait_for_function("s => document.querySelector('.exec-screen').dataset.size !== s", arg=before)
            run("clear; stty size", page.evaluate("document.querySelector('.exec-screen').dataset.size"))
            run("exit 3", "exit 3")
            page.wait_for_function("() => document.querySelector('.exec-status').dataset.exit === '3'")
            assert page.inner_text(".exec-status") == "exited with status 3"
            assert sockets and all("/pods/shell/exec?" in u and TOKEN not in u for u in sockets), sockets
            assert not [u for u in urls if TOKEN in u], "the token went into a URL"
            assert page.evaluate("window.__csp") == []
            context.close()
        finally:
            browser.close()
            gateway.stop()
