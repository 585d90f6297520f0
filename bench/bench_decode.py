"""What an informer pays per pod event (issue 12, target 2's CPU): decoding etcd's values.

Each figure is beside its baseline, computed in the same run, in the same process, on the same
stored bytes (a Deployment's pod once it is bound and Running, as the agents write it):
  - ``decode`` (``model_validate_json``: pydantic parses the JSON) next to the path it replaced,
    ``codec.loads`` then ``model_validate``;
  - ``to_event`` of an update as an informer uses it (``old_object`` never read, so never decoded)
    next to the same event with ``old_object`` read, which is what every update cost before the
    previous value was decoded lazily.
Prints µs per call (the best of ``--rounds`` rounds of ``--calls`` calls) and the ratio.

    .venv/bin/python bench/bench_decode.py [--calls 3000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_bind import deployment_pod  # noqa: E402  (bench/ is the script's directory)
from kubelite.api.core import Pod  # noqa: E402
from kubelite.api.resources import PODS  # noqa: E402
from kubelite.storage import codec  # noqa: E402
from kubelite.storage.store import decode  # noqa: E402
from kubelite.storage.watch import to_event  # noqa: E402


def running_pod_bytes() -> bytes:
    doc = deployment_pod(1).to_dict()
    doc["metadata"].update(uid="6c1f0a64-1b0e-4bb5-9a7c-2b8f0b0c9f11", creationTimestamp="2026-12-01T17:00:00Z")
    doc["spec"]["nodeName"] = "node-7"
    doc["status"] = {
        "phase": "Running", "hostIP": "10.0.0.7", "podIP": "10.244.7.3", "startTime": "2026-12-01T17:00:00Z",
        "conditions": [{"type": t, "status": "True", "lastTransitionTime": "2026-12-01T17:00:01Z"}
                       for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
        "containerStatuses": [{"name": "web", "ready": True, "restartCount": 0, "started": True,
                               "image": "kubelite/demo:latest", "imageID": "sim://demo", "containerID": "sim://abc",
                               "state": {"running": {"startedAt": "2026-12-01T17:00:01Z"}}}]}
    return codec.dumps(doc)


def best(calls: int, rounds: int, work: Callable[[], Any]) -> float:
    """Seconds per call: the fastest round (the machine's other work only ever adds time)."""
    for _ in range(calls // 10):
        work()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            work()
        times.append((time.perf_counter() - start) / calls)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    stored = running_pod_bytes()
    key = b"/registry/pods/default/" + deployment_pod(1).name.encode()
    update = SimpleNamespace(kind="PUT", kv=SimpleNamespace(key=key, value=stored, mod_revision=9, version=3),
                             prev_kv=SimpleNamespace(key=key, value=stored, mod_revision=8, version=2))
    print(f"kubelite decode benchmark: a Running pod of {len(stored)} bytes, best of {args.rounds} rounds of "
          f"{args.calls} calls, tree {REPO}")
    rows = [
        ("decode (model_validate_json)", lambda: decode(PODS, stored, 9),
         "loads + model_validate", lambda: Pod.model_validate(codec.loads(stored))),
        ("to_event of an update, as informers", lambda: to_event(PODS, update),
         "the same, old_object read", lambda: to_event(PODS, update).old_object),
    ]
    for name, work, base_name, baseline in rows:
        figure, base = best(args.calls, args.rounds, work), best(args.calls, args.rounds, baseline)
        print(f"  {name:38s} {1e6 * figure:6.1f} us   baseline {base_name}: {1e6 * base:6.1f} us   "
              f"ratio {figure / base:.2f}")


if __name__ == "__main__":
    main()
