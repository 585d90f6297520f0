"""The bind's own CPU (issue 12, targets 3 and 4): ``Store.bind`` on the in-memory store, no etcd.

The scheduler's bind is one etcd write per pod; what the controller-manager's process spends on it
besides the write is this: turning the pod into the bound pod's stored JSON. Here the write is a
dict update (``MemStore``), so the figure is that work alone, per pod, on two paths:
  - the scheduler's: ``read=`` the pod as an informer holds it (a decoded model);
  - the gateway's ``pods/binding``: the pod read from the store first.
Baseline in the same run: one ``decode`` of the same stored pod (what an informer pays per event)
and one ``model_dump`` + orjson of it. Pods are shaped as a Deployment's (owner, template hash,
service-account volume, tolerations). Run it on two trees to compare them:

    .venv/bin/python bench/bench_bind.py [--pods 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kubelite.api.core import Namespace, Pod  # noqa: E402
from kubelite.api.meta import ObjectMeta  # noqa: E402
from kubelite.api.resources import NAMESPACES, PODS  # noqa: E402
from kubelite.storage import codec  # noqa: E402
from kubelite.storage.memstore import MemStore  # noqa: E402
from kubelite.storage.store import decode  # noqa: E402


def deployment_pod(i: int) -> Pod:
    return Pod.model_validate({
        "metadata": {"name": f"web-7d4b9c8f5-{i:05d}", "namespace": "default",
                     "labels": {"app": "web", "pod-template-hash": "7d4b9c8f5"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c8f5",
                                          "uid": "0b6f1a52-6a0e-4a53-9b7c-3c1f2d4e5f60", "controller": True,
                                          "blockOwnerDeletion": True}]},
        "spec": {
            "containers": [{"name": "web", "image": "kubelite/demo:latest", "imagePullPolicy": "IfNotPresent",
                            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                            "env": [{"name": "MODE", "value": "bench"}],
                            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                                          "limits": {"cpu": "100m", "memory": "64Mi"}},
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
            "volumes": [{"name": "data", "emptyDir": {}}],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default", "schedulerName": "default-scheduler", "enableServiceLinks": True,
        },
    })


async def main(args: argparse.Namespace) -> None:
    store = MemStore()
    await store.create(NAMESPACES, Namespace(metadata=ObjectMeta(name="default")))
    pods = [await store.create(PODS, deployment_pod(i)) for i in range(args.pods * args.rounds * 2)]
    stored = store._data[PODS.key(pods[0].name, "default")].value
    print(f"kubelite bind benchmark: {args.rounds} rounds of {args.pods} pods per path "
          f"({len(stored)} bytes stored per pod), in-memory store, tree {REPO}")

    def per_pod(seconds: float) -> str:
        return f"{1e6 * seconds / args.pods:6.1f} us"

    baseline_decode, baseline_dump, informer_path, read_path = [], [], [], []
    batches = [pods[i:i + args.pods] for i in range(0, len(pods), args.pods)]
    for round_ in range(args.rounds):
        started = time.process_time()
        for _ in range(args.pods):
            decode(PODS, stored, 7)
        baseline_decode.append(time.process_time() - started)
        started = time.process_time()
        for pod in batches[0][: args.pods]:
            codec.dumps(pod.to_dict())
        baseline_dump.append(time.process_time() - started)
        cached, fresh = batches[2 * round_], batches[2 * round_ + 1]
        started = time.process_time()
        for pod in cached:  # the scheduler's path: the informer's copy
            await store.bind("default", pod.name, "node-1", uid=pod.metadata.uid, read=pod)
        informer_path.append(time.process_time() - started)
        started = time.process_time()
        for pod in fresh:  # the gateway's path: read, then bind
            await store.bind("default", pod.name, "node-1", uid=pod.metadata.uid)
        read_path.append(time.process_time() - started)
    best: Any = min
    print(f"  baseline: decode of one stored pod  : {per_pod(best(baseline_decode))} (best of {args.rounds})")
    print(f"  baseline: model_dump + orjson       : {per_pod(best(baseline_dump))}")
    print(f"  bind, read= an informer's copy      : {per_pod(best(informer_path))} per pod "
          f"(median {per_pod(sorted(informer_path)[args.rounds // 2])})")
    print(f"  bind, pod read from the store first : {per_pod(best(read_path))} per pod "
          f"(median {per_pod(sorted(read_path)[args.rounds // 2])})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(main(parser.parse_args()))
