"""The dashboard under load, measured with the browser's own performance timeline.

Starts the real ``kl up --runtime sim --nodes 1`` (own data dir, free port), then in
one Chromium (Playwright, Debian's /usr/bin/chromium):
  1. baseline: the Pods view's load on the empty cluster (navigation start → table
     listed and its watch live), and ``kubectl get pods -A`` on the loaded cluster;
  2. 1,000 pods (bound to a node no agent runs, so they stay put): the Pods view's
     load to all 1,000 rows rendered (issue 17's target: ≤ 1 s), long tasks during it;
  3. 100 pod updates/s for ``--seconds`` to the pods on screen (status.reason changes, so
     the STATUS cell of a row changes each time) while the view is open: frame intervals (a
     requestAnimationFrame loop), long tasks (PerformanceObserver 'longtask'), events the
     page applied, and the lag of the last update to the page.
Figures are printed; nothing is asserted.

    .venv/bin/python bench/bench_ui.py [--pods 1000] [--rate 100] [--seconds 10]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from playwright.sync_api import Page, sync_playwright  # noqa: E402

from kubelite.etcd.server import free_port  # noqa: E402

NS = "bench-ui"
OBSERVE = """
window.__frames = []; window.__long = [];
new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push([e.startTime, e.duration]); })
  .observe({ type: 'longtask', buffered: true });
(function tick(t) { window.__frames.push(t); requestAnimationFrame(tick); })(performance.now());
"""
SHOWN = """([want, rows]) => { const t = [...document.querySelectorAll('table')].find(t => t.caption && t.caption.textContent === 'Pods');
  const s = document.querySelector('.table-status');
  if (!t || !s || !s.textContent.endsWith(want + ' · live')) return false;
  return t.tBodies[0].querySelectorAll('tr[data-key]').length === rows; }"""


def call(conn: http.client.HTTPConnection, method: str, path: str, body: object = None,
         content_type: str = "application/json") -> int:
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers={"Content-Type": content_type, "Accept": "application/json"})
    resp = conn.getresponse()
    resp.read()
    return resp.status


def in_threads(port: int, jobs: list[tuple[str, str, object, str]], threads: int = 8) -> None:
    failures: list[str] = []

    def run(part: list[tuple[str, str, object, str]]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for method, path, body, ctype in part:
            status = call(conn, method, path, body, ctype)
            if status >= 300:
                failures.append(f"{method} {path}: {status}")
    workers = [threading.Thread(target=run, args=(jobs[i::threads],)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if failures:
        raise SystemExit(f"{len(failures)} request(s) failed, first: {failures[0]}")


def pod(i: int) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p-{i:04d}", "labels": {"app": "bench"}},
            "spec": {"nodeName": "bench-no-agent", "tolerations": [{"operator": "Exists"}],  # never evicted
                     "containers": [{"name": "c", "image": "kubelite/demo:latest"}]}}


def load(page: Page, url: str, want: int) -> tuple[float, list[tuple[float, float]]]:
    """ms from navigation start to the view listing `want` pods (its first page of rows rendered) with
    the watch live; long tasks meanwhile."""
    page.goto("about:blank")
    page.goto(url)
    shown = f"1–{min(100, want)} of {want}" if want > 100 else f"{want} shown"
    handle = page.wait_for_function(f"(w) => ({SHOWN})(w) && performance.now()", arg=[shown, min(100, want)], polling="raf",
                                    timeout=120_000)
    return float(handle.json_value()), page.evaluate("window.__long")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def updates(port: int, pods: int, rate: int, seconds: float, stop_at: list[float]) -> None:
    """rate status patches a second to the 100 pods on the view's first page (each one redraws a
    row: the renderer's worst case), spread over 4 connections, each on its own schedule."""
    def run(offset: int, every: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        start = time.monotonic()
        n = 0
        while True:
            due = start + (n * every + offset) / rate
            if due - start >= seconds:
                break
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing a load generator, not waiting for a condition
            i = n * every + offset
            call(conn, "PATCH", f"/api/v1/namespaces/{NS}/pods/p-{i % min(pods, 100):04d}/status",
                 {"status": {"reason": f"Tick{i}"}}, "application/merge-patch+json")
            n += 1
        stop_at.append(time.monotonic())
    workers = [threading.Thread(target=run, args=(k, 4)) for k in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    out = open(data / "kl-up.out", "wb")
    up = subprocess.Popen([str(REPO / ".venv/bin/kl"), "up", "--runtime", "sim", "--nodes", "1", "--listen",
                           f"127.0.0.1:{port}", "--data-dir", str(data / "d")], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while "kubelite is up" not in (data / "kl-up.out").read_text():
            if up.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("kl up did not come up:\n" + (data / "kl-up.out").read_text())
            time.sleep(0.2)  # polling a child's output file for its banner
        server = f"http://127.0.0.1:{port}"
        url = f"{server}/ui/#/pods"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.add_init_script(OBSERVE)
            # a Node no agent runs: its pods stay as written (a pod on no Node at all is force-deleted)
            in_threads(port, [("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                               "metadata": {"name": NS}}, "application/json"),
                              ("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node",
                                                         "metadata": {"name": "bench-no-agent"}}, "application/json")], 1)
            page.goto(f"{server}/ui/")  # warm the HTTP cache once, as a returning user has it
            empty_ms, _ = load(page, url, 0)
            started = time.monotonic()
            in_threads(port, [("POST", f"/api/v1/namespaces/{NS}/pods", pod(i), "application/json")
                              for i in range(args.pods)])
            created = time.monotonic() - started
            kubectl = shutil.which("kubectl") or "/usr/bin/kubectl"
            started = time.monotonic()
            got = subprocess.run([kubectl, "--kubeconfig", str(data / "d" / "kubeconfig"), "get", "pods", "-A"],
                                 capture_output=True, text=True, check=True)
            kubectl_ms = (time.monotonic() - started) * 1000
            assert len(got.stdout.splitlines()) == args.pods + 1, got.stdout[-300:] + got.stderr
            full_ms, long_tasks = load(page, url, args.pods)
            during_load = [d for s, d in long_tasks if s <= full_ms]

            # updates while the view is open; Chrome's own counters split the main thread's time
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            idle_before = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
            page.wait_for_timeout(3000)  # the idle window itself: the baseline of the counters below
            idle = {m["name"]: m["value"] - idle_before.get(m["name"], 0)
                    for m in cdp.send("Performance.getMetrics")["metrics"]}
            counters_before = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
            page.evaluate("window.__frames = []; window.__long = [];")
            before = page.evaluate("performance.now()")
            stop_at: list[float] = []
            worker = threading.Thread(target=updates, args=(port, args.pods, args.rate, args.seconds, stop_at))
            worker.start()
            page.wait_for_timeout(args.seconds * 1000)  # the measurement window itself
            worker.join()
            last = (args.rate * args.seconds) - 1
            finished = max(stop_at)
            page.wait_for_function(f"() => document.body.textContent.includes('Tick{int(last)}')", timeout=60_000,
                                   polling="raf")
            lag_ms = (time.monotonic() - finished) * 1000
            counters = {m["name"]: m["value"] - counters_before.get(m["name"], 0)
                        for m in cdp.send("Performance.getMetrics")["metrics"]}
            frames = page.evaluate("window.__frames")
            draws = page.evaluate("performance.getEntriesByName('table-draw').filter(e => e.startTime >= %f).map(e => e.duration)" % before)
            long_after = page.evaluate("window.__long")
            browser.close()
        gaps = [b - a for a, b in zip(frames, frames[1:]) if a >= before]
        print(f"kl up --runtime sim, {args.pods} pods created through the API in {created:.1f} s; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (wall-clock figures include waiting for a core)")
        print("| figure | value | baseline in the same run |")
        print("|---|---|---|")
        print(f"| Pods view load, navigation → {args.pods} pods listed, first page rendered, watch live | {full_ms:.0f} ms "
              f"| empty cluster: {empty_ms:.0f} ms; `kubectl get pods -A` ({args.pods} pods): {kubectl_ms:.0f} ms |")
        print(f"| long tasks during that load | {len(during_load)}, longest {max(during_load, default=0):.0f} ms, "
              f"total {sum(during_load):.0f} ms | |")
        print(f"| {args.rate} pod updates/s for {args.seconds:g} s: frame interval p50 / p99 / max "
              f"| {statistics.median(gaps):.1f} / {percentile(gaps, 0.99):.1f} / {max(gaps):.1f} ms "
              f"({len(gaps) / args.seconds:.0f} frames/s) | 60 Hz: 16.7 ms |")
        print(f"| long tasks during the updates | {len(long_after)}, longest {max((d for _, d in long_after), default=0):.0f} ms, "
              f"total {sum(d for _, d in long_after):.0f} ms | |")
        print(f"| table redraws during the updates (JS only) | {len(draws)}, p50 {statistics.median(draws or [0]):.1f} ms, "
              f"max {max(draws, default=0):.1f} ms, total {sum(draws):.0f} ms | |")
        split = ", ".join(f"{name.removesuffix('Duration').lower()} {counters.get(name, 0) * 1000:.0f} ms"
                          for name in ("TaskDuration", "ScriptDuration", "RecalcStyleDuration", "LayoutDuration"))
        idle_split = ", ".join(f"{name.removesuffix('Duration').lower()} {idle.get(name, 0) * 1000 / 3 * args.seconds:.0f} ms"
                               for name in ("TaskDuration", "ScriptDuration", "RecalcStyleDuration", "LayoutDuration"))
        print(f"| main thread busy during the updates (Chrome's counters) | {split} "
              f"| the same page idle, scaled to {args.seconds:g} s: {idle_split} |")
        print(f"| last update → on the page | {lag_ms:.0f} ms after the last PATCH returned | |")
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            up.kill()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
