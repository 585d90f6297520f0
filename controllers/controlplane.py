"""``python -m controllers.controlplane``: the gateway and the controller manager in one process.

This is how ``kl up`` runs its control plane, as k3s runs kube-apiserver, the scheduler and the
controller manager in its one server process: one Python interpreter instead of two. Each
interpreter's RSS is mostly its imports (libpython, grpc, pydantic-core, the kinds' models and
strategies), which the two components share, so one process takes about 60 MB less (issue 12,
target 7; ``bench/bench_idle.py``: 96.6 MB against 68.2 + 92.4 MB apart).

Each component keeps everything of its own: its flags (parsed by its own ``__main__``), its etcd
client, its listener, its metrics registry, its shutdown. The process only shares the event loop
and stops both on SIGINT or SIGTERM. Each log line names its component: the one whose start
created the task that logged (``kubelite.util.logs.log_component``). A deployment that wants the
components apart (several controller managers, gateways behind a load balancer) runs
``python -m controllers`` and ``python -m kubelite.gateway`` as before.

Usage::

    python -m controllers.controlplane --gateway GATEWAY-FLAGS... --controller-manager MANAGER-FLAGS...

Exit status: 0 after a signal; 1 when a component cannot start (its port taken, etcd
unreachable: one line on stderr); for bad flags, what the component's own ``__main__`` exits with
(2 for the gateway's and for a missing marker, 1 for the controller-manager's), with one line.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable

from controllers import __main__ as manager_main
from controllers.manager import ControllerManager, ManagerConfig
from kubelite.gateway import __main__ as gateway_main
from kubelite.gateway.app import Gateway, GatewayConfig
from kubelite.gateway.auth import TokenFileError
from kubelite.util.logs import log_component, setup_logging
from kubelite.util.process import run_component, settle_heap

log = logging.getLogger("controllers.controlplane")

GATEWAY = "--gateway"
MANAGER = "--controller-manager"
USAGE = f"usage: python -m controllers.controlplane {GATEWAY} FLAGS... {MANAGER} FLAGS..."


def split_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    """The gateway's and the controller manager's flags: the tokens after ``--gateway`` and after
    ``--controller-manager`` (each marker exactly once, the gateway's first). ValueError otherwise."""
    if argv.count(GATEWAY) != 1 or argv.count(MANAGER) != 1 or argv[0] != GATEWAY:
        raise ValueError(USAGE)
    cut = argv.index(MANAGER)
    return argv[1:cut], argv[cut + 1:]


async def run(gateway_config: GatewayConfig, manager_config: ManagerConfig) -> None:
    """Start the gateway, then the controller manager, and serve until SIGINT or SIGTERM; then stop
    both (:func:`stop_both`). Raises what a component's start raises (ListenError, OSError, ApiError
    when etcd is unreachable), after stopping what had started."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    gateway = Gateway(gateway_config)
    manager = ControllerManager(manager_config)
    with log_component("gateway"):
        await gateway.start()
    try:
        with log_component("controller-manager"):
            await manager.start()
        gateway.build_documents()
        settle_heap()
        print(f"kubelite gateway serving on {gateway.url}", file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        await stop_both(manager, gateway)


async def stop_both(manager: ControllerManager, gateway: Gateway) -> None:
    """Stop both at once (kl up gives the process one grace period, not one per component). A step
    that fails is logged, not raised: it must not replace the error that ended the process (a start
    that failed), and the process is ending either way."""
    async def one(name: str, stop: Callable[[], Awaitable[None]]) -> None:
        with log_component(name):
            try:
                await stop()
            except Exception as exc:  # noqa: BLE001 - reported; the other half still stops
                log.error("%s did not stop cleanly: %s", name, exc)

    await asyncio.gather(one("controller-manager", manager.stop), one("gateway", gateway.stop))


def main(argv: list[str] | None = None) -> int:
    try:
        gateway_argv, manager_argv = split_argv(sys.argv[1:] if argv is None else argv)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    gateway_args = gateway_main.parse_args(gateway_argv)
    manager_args = manager_main.parse_args(manager_argv)
    # one root logger: the more verbose of the two levels (the manager's defaults to KUBELITE_LOG_LEVEL)
    levels = [logging.getLevelName(level.upper()) for level in (gateway_args.log_level, manager_args.log_level)]
    setup_logging("control-plane", level=logging.getLevelName(min(
        (level for level in levels if isinstance(level, int)), default=logging.INFO)))
    try:
        gateway_config = gateway_main.config_from_args(gateway_args)
        gateway_config.check()
    except (ValueError, TokenFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    manager_config = manager_main.config_from_args(manager_args)  # SystemExit with one line on a bad flag
    return run_component(run(gateway_config, manager_config), gateway_main.USER_ERRORS)


if __name__ == "__main__":
    sys.exit(main())
