"""Issue 12, target 6: 30 replicas on real Docker — ``kl up --runtime docker`` next to Docker Swarm
on the same engine, in the same run.

Both run the local image ``kubelite/demo:latest`` (no registry: Swarm is told not to resolve it,
``--no-resolve-image``, so its tasks use the engine's local copy) with the same command
(``sleep 3600``), and both are timed from the command that asks for the replicas to the moment
all of them are seen running:
  - kubelite: ``kubectl apply`` of a Deployment of 30 replicas → ``kubectl get pods --watch``
    sees 30 pods Running (the agents start a sandbox and the app container per pod);
  - Swarm: ``docker service create --replicas 30`` → ``docker service ps`` lists 30 tasks in
    state Running (polled every 0.1 s, the resolution of this side).
Prints both times and their ratio (target ≤ 0.5).

In the same run, the raw floors of the engine (``bench/docker_floors.py``, through the Docker SDK as the
agent calls it, the same image and command, ``--concurrency`` pods and engine requests at once: 2 nodes ×
16 pod workers): 30 containers created and started on the default bridge (**one start per pod**, what a
Swarm task costs), and 30 pods of a sandbox on the bridge plus an app container in its network namespace
(**two starts per pod**, kubelite's shape), and the same with the sandboxes started beforehand, untimed
(**warm sandboxes**: only the apps joining them). Their ratios to Swarm say how near 0.5 any design that
starts two containers per pod (or keeps sandboxes ready) could come on this engine. Each phase starts
from an engine without the previous phase's containers; ``--rounds`` repeats the phases, the order
reversed every other round (the machine is shared and noisy), and a summary gives every round's figures,
the load average and the medians (the median row's ratios are ratios of the medians).

The engine is shared: ``docker swarm init`` runs only when it is not in a swarm already (then
``docker swarm leave --force`` at the end, and the ``docker_gwbridge`` network it made is removed
if nothing uses it); in a swarm that exists, only this script's own service is created and
removed. The floors' containers carry the label ``kubelite-bench=<run id>`` and exactly those are
removed (after each phase, and on any exit: failure, Ctrl-C, SIGTERM). Nothing else on the engine is
touched; kl up removes its own containers on SIGINT.

    .venv/bin/python bench/bench_swarm.py [--replicas 30] [--nodes 2] [--order kubelite-first|swarm-first]
        [--concurrency 32] [--rounds 1] [--skip kubelite|swarm|floors]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import pyspy  # noqa: E402  (bench/ is the script's directory)
from docker_floors import Floors  # noqa: E402
from bench_kl_up_deploy import KUBECTL, PodWatch  # noqa: E402
from klup import KlUp  # noqa: E402

from kubelite.etcd.server import free_port  # noqa: E402

IMAGE = "kubelite/demo:latest"
COMMAND = ["sleep", "3600"]
MANIFEST = """apiVersion: apps/v1
kind: Deployment
metadata: {{name: bench, namespace: default}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: bench}}}}
  template:
    metadata: {{labels: {{app: bench}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: {image}
        imagePullPolicy: Never
        command: {command}
"""


def docker(*args: str, check: bool = True, timeout: float = 120) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=timeout).stdout


def run_kubelite(replicas: int, nodes: int, timeout: float, profile: Path | None = None) -> float:
    """kl up's default (secure) on Docker, ``kubectl apply`` → kubectl's watch sees all Running → seconds."""
    up = KlUp(nodes, prefix="kubelite-bench-swarm-", timeout=timeout, secure=True, runtime="docker")
    up.start()
    watch: PodWatch | None = None
    try:
        up.wait_banner()
        up.wait_ready_nodes()
        manifest = up.data / "bench.yaml"
        manifest.write_text(MANIFEST.format(replicas=replicas, image=IMAGE, command=json.dumps(COMMAND)))
        watch = PodWatch(up.kubeconfig, replicas)
        time.sleep(1.0)  # a settling window, not a wait for a condition: kubectl's watch has listed (nothing yet)
        recorders = []
        if profile is not None:
            profile.mkdir(parents=True, exist_ok=True)
            recorders = [pyspy.record(pid, profile / f"{name}.txt")
                         for name, pid in up.process_names(etcd=False).items() if name != "dns"]
            time.sleep(1.0)  # py-spy attaches
        applied = time.monotonic()
        subprocess.run([KUBECTL, "--kubeconfig", str(up.kubeconfig), "apply", "-f", str(manifest)], check=True,
                       capture_output=True, timeout=120)
        if not watch.all_running.wait(max(1.0, up.started + timeout - time.monotonic())):
            raise SystemExit(f"kubelite: {len(watch.running)} of {replicas} pods Running; see {up.out_path}")
        pyspy.stop(recorders)

        def phase(times: dict[str, float]) -> str:
            ordered = sorted(t - applied for t in times.values())
            return f"first {ordered[0]:.2f} / half {ordered[len(ordered) // 2]:.2f} / all {ordered[-1]:.2f} s"

        print(f"  kubelite's phases after kubectl apply (kubectl's watch; first / half / all {replicas} pods): "
              f"seen {phase(watch.created)}; bound {phase(watch.bound)}; Running {phase(watch.running)}")
        if profile is not None:
            for path in sorted(profile.glob("*.txt")):
                if path.stat().st_size:
                    print(pyspy.summary(path))
        return max(watch.running.values()) - applied
    finally:
        if watch is not None:
            watch.stop()
        up.stop()  # SIGINT: kl up removes its pods' containers before it exits


def swarm_state() -> str:
    return docker("info", "--format", "{{.Swarm.LocalNodeState}}").strip()


def run_swarm(replicas: int, timeout: float) -> float:
    name = f"kubelite-bench-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    docker("service", "create", "--detach", "--name", name, "--replicas", str(replicas), "--no-resolve-image",
           "--stop-grace-period", "1s", "--label", "kubelite.bench=swarm", IMAGE, *COMMAND)
    try:
        while True:
            states = docker("service", "ps", name, "--filter", "desired-state=running", "--format",
                            "{{.CurrentState}}").split("\n")
            if sum(1 for s in states if s.startswith("Running")) >= replicas:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise SystemExit(f"swarm: service {name} not running after {timeout:.0f} s:\n" + "\n".join(states))
            time.sleep(0.1)
    finally:
        docker("service", "rm", name, check=False)
        gone_by = time.monotonic() + 120
        while docker("ps", "-aq", "--filter", f"label=com.docker.swarm.service.name={name}").strip():
            if time.monotonic() > gone_by:
                print(f"WARNING: containers of service {name} still present", file=sys.stderr)
                break
            time.sleep(0.5)


# a round's order with --order kubelite-first; swarm-first reverses it
PHASES = ("kubelite", "two starts", "warm sandboxes", "one start", "swarm")


def utc() -> str:
    return time.strftime("%H:%M:%S UTC", time.gmtime())


def load() -> float:
    return os.getloadavg()[0]


def run_round(args: argparse.Namespace, floors: Floors, order: list[str]) -> dict[str, float]:
    """One round's phases in ``order`` → seconds by phase, and the load average at each phase's start
    (``"load <phase>"``)."""
    figures: dict[str, float] = {}
    for phase in order:
        figures[f"load {phase}"] = load()
        if phase == "kubelite":
            figures[phase] = run_kubelite(args.replicas, args.nodes, args.timeout, args.profile)
        elif phase == "swarm":
            figures[phase] = run_swarm(args.replicas, args.timeout)
        else:
            floor = {"one start": floors.one_start, "two starts": floors.two_starts,
                     "warm sandboxes": floors.warm_sandboxes}[phase]
            try:
                figures[phase] = floor(args.replicas)
            finally:
                floors.remove()  # the next phase starts without them
        print(f"  [{utc()}] {phase}: {figures[phase]:.2f} s (load average {figures[f'load {phase}']:.2f})",
              flush=True)
    return figures


def report(args: argparse.Namespace, rounds: list[dict[str, float]], initialised: bool) -> None:
    def median(phase: str) -> float | None:
        values = [r[phase] for r in rounds if phase in r]
        return statistics.median(values) if values else None

    def ratio(a: str, b: str, figures: dict[str, float]) -> str:
        return f"{figures[a] / figures[b]:.2f}" if a in figures and b in figures else "-"

    print(f"{args.replicas} replicas of {IMAGE} ({' '.join(COMMAND)}) on one Docker Engine, apply -> all Running")
    said = {
        "kubelite": f"kl up --runtime docker --nodes {args.nodes}; kubectl apply -> kubectl sees Running",
        "swarm": "docker service create -> docker service ps: Running; "
                 + ("swarm initialised for this run" if initialised else "existing swarm, own service only"),
        "one start": f"{args.replicas} containers created+started on the default bridge (Docker SDK, "
                     f"{args.concurrency} at once)",
        "two starts": f"{args.replicas} pods of a sandbox on the bridge + an app container in its network "
                      f"namespace (Docker SDK, {args.concurrency} pods at once)",
        "warm sandboxes": f"{args.replicas} sandboxes started first (not timed), then the app containers joining "
                          "them (timed)",
    }
    for phase in PHASES:
        if any(phase in r for r in rounds):
            print(f"  {phase}: {said[phase]}")
    header = ["round", "kubelite s", "swarm s", "one start s", "two starts s", "warm sandboxes s",
              "kubelite/swarm", "one start/swarm", "two starts/swarm", "warm/swarm", "kubelite/two starts", "load"]
    print("  " + " | ".join(header))
    rows = [(str(n), r) for n, r in enumerate(rounds, 1)]
    medians = {phase: m for phase in PHASES if (m := median(phase)) is not None}
    for name, figures in [*rows, *([("median", medians)] if len(rounds) > 1 else [])]:
        loads = [v for k, v in figures.items() if k.startswith("load ")]
        cells = [name, *(f"{figures[p]:.2f}" if p in figures else "-"
                         for p in ("kubelite", "swarm", "one start", "two starts", "warm sandboxes")),
                 *(ratio(a, b, figures) for a, b in (("kubelite", "swarm"), ("one start", "swarm"),
                                                     ("two starts", "swarm"), ("warm sandboxes", "swarm"),
                                                     ("kubelite", "two starts"))),
                 f"{min(loads):.1f}-{max(loads):.1f}" if loads else "-"]
        print("  " + " | ".join(cells))
    if "kubelite" in medians and "swarm" in medians:
        print(f"  ratio kubelite / swarm (median): {medians['kubelite'] / medians['swarm']:.2f} "
              "(target <= 0.5; issue 12 measured 6.5 s vs 7.9 s, 0.82)")
    if "two starts" in medians and "swarm" in medians:
        best = min(r["two starts"] / r["swarm"] for r in rounds if "two starts" in r and "swarm" in r)
        print(f"  two starts per pod, raw, over swarm: median {medians['two starts'] / medians['swarm']:.2f}, "
              f"best {best:.2f}: the floor of any design that starts two containers per pod on this engine")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=30)
    parser.add_argument("--nodes", type=int, default=2, help="kl up's --nodes (agent processes on the one engine)")
    parser.add_argument("--order", choices=("kubelite-first", "swarm-first"), default="kubelite-first",
                        help="the first round's order (kubelite, two starts, warm sandboxes, one start, swarm, or "
                             "reversed); "
                             "later rounds alternate")
    parser.add_argument("--concurrency", type=int, default=32,
                        help="the floors' pods and engine requests at once (kl up --nodes 2: 2 agents x 16 pod "
                             "workers, each with 16 Docker call threads)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the phases, the order reversed every other round")
    parser.add_argument("--skip", action="append", choices=("kubelite", "swarm", "floors"), default=[],
                        help="leave a phase out (repeatable)")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--profile", type=Path, help="py-spy kl up's Python children during kubelite's window")
    args = parser.parse_args()
    if args.replicas < 1 or args.concurrency < 1 or args.rounds < 1:
        raise SystemExit("--replicas, --concurrency and --rounds must be at least 1")

    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode:
        raise SystemExit(f"{IMAGE} is not on this engine: deploy/images/build.sh builds it")
    state = swarm_state()
    if state not in ("inactive", "active"):
        raise SystemExit(f"the engine's swarm state is {state!r}: not touching it")
    skipped = set(args.skip) | ({"two starts", "warm sandboxes", "one start"} if "floors" in args.skip else set())
    order = [p for p in PHASES if p not in skipped]
    if args.order == "swarm-first":
        order.reverse()
    initialised = state == "inactive" and "swarm" in order
    had_gwbridge = bool(docker("network", "ls", "-q", "--filter", "name=^docker_gwbridge$").strip())
    floors = Floors(uuid.uuid4().hex[:8], IMAGE, COMMAND, args.concurrency)
    # SIGINT (ignored when started in the background) and SIGTERM unwind like Ctrl-C, so every finally
    # below (kl up, the service, the floors, the swarm) runs
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    print(f"[{utc()}] load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; floors' label "
          f"kubelite-bench={floors.run_id}", flush=True)
    rounds: list[dict[str, float]] = []
    if initialised:
        docker("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", f"127.0.0.1:{free_port()}")
    try:
        for n in range(args.rounds):
            print(f"round {n + 1}:", flush=True)
            rounds.append(run_round(args, floors, order if n % 2 == 0 else order[::-1]))
    finally:
        try:
            floors.remove()
        finally:
            floors.close()
            if initialised:
                docker("swarm", "leave", "--force", check=False)
                if not had_gwbridge:  # made by this init: removed unless something else attached to it meanwhile
                    docker("network", "rm", "docker_gwbridge", check=False)
    print(f"[{utc()}] load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    report(args, rounds, initialised)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("bench_swarm: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
