"""``python -m agent.sim_inspect --inspect-port N <agent flags>``: the real sim agents
(``python -m agent --runtime sim``), plus a read-only endpoint listing every sim container.

Sim containers live in the agent process's memory, so nothing outside could tell
whether one outlived its pod. Chaos tests (kubelite.testing) need exactly that ("no orphan
container"), so this wrapper runs the agent's own ``run()`` unchanged and only
records the runtimes it creates, serving ``GET /containers`` on 127.0.0.1:N:
``[{"node", "id", "state", "pod_uid", "namespace", "pod", "container"}, ...]``.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from aiohttp import web

import agent.__main__ as agent_main
from agent.runtime.base import (
    LABEL_CONTAINER,
    LABEL_NAMESPACE,
    LABEL_POD_NAME,
    LABEL_POD_UID,
    ContainerRuntime,
)
from agent.runtime.sim import SimRuntime
from kubelite.util.logs import setup_logging


def describe(runtimes: dict[str, SimRuntime]) -> list[dict[str, Any]]:
    return [
        {"node": node, "id": info.id, "state": info.state, "pod_uid": info.labels.get(LABEL_POD_UID, ""),
         "namespace": info.labels.get(LABEL_NAMESPACE, ""), "pod": info.labels.get(LABEL_POD_NAME, ""),
         "container": info.labels.get(LABEL_CONTAINER, "")}
        for node, runtime in list(runtimes.items())
        for info in runtime.containers_info()
    ]


async def run(argv: list[str], inspect_port: int) -> int:
    args = agent_main.build_parser().parse_args(argv)
    setup_logging("agent", level=args.log_level)
    runtimes: dict[str, SimRuntime] = {}
    make_runtime = agent_main.make_runtime

    def recording_make_runtime(parsed: Any, node: str) -> ContainerRuntime:
        runtime = make_runtime(parsed, node)
        assert isinstance(runtime, SimRuntime), "agent.sim_inspect runs sim agents only"
        runtimes[node] = runtime
        return runtime

    agent_main.make_runtime = recording_make_runtime  # type: ignore[assignment]

    async def containers(request: web.Request) -> web.Response:
        return web.json_response(describe(runtimes))

    app = web.Application()
    app.router.add_get("/containers", containers)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", inspect_port).start()
    try:
        return await agent_main.run(args)
    finally:
        await runner.cleanup()


def main() -> int:
    argv = sys.argv[1:]
    if len(argv) < 2 or argv[0] != "--inspect-port":
        print("usage: python -m agent.sim_inspect --inspect-port N <agent flags>", file=sys.stderr)
        return 2
    return asyncio.run(run(argv[2:], int(argv[1])))


if __name__ == "__main__":
    sys.exit(main())
