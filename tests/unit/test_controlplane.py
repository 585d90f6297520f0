"""The control plane's one process (controllers.controlplane): its argv split, and the log tag
each component's tasks carry (kubelite.util.logs.log_component)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from controllers.controlplane import USAGE, split_argv
from kubelite.util.logs import JsonFormatter, log_component


def test_split_argv_gives_each_component_its_flags() -> None:
    gateway, manager = split_argv(["--gateway", "--listen", "a:1", "--controller-manager", "--listen", "b:2", "--id", "x"])
    assert gateway == ["--listen", "a:1"]
    assert manager == ["--listen", "b:2", "--id", "x"]
    assert split_argv(["--gateway", "--controller-manager"]) == ([], [])


@pytest.mark.parametrize("argv", [
    [], ["--listen", "a:1"], ["--gateway", "--listen", "a:1"], ["--controller-manager", "--gateway"],
    ["--listen", "a:1", "--gateway", "--controller-manager"],
    ["--gateway", "--gateway", "--controller-manager"], ["--gateway", "--controller-manager", "--controller-manager"],
])
def test_split_argv_refuses_anything_else_with_the_usage(argv: list[str]) -> None:
    with pytest.raises(ValueError, match="usage:") as exc:
        split_argv(argv)
    assert str(exc.value) == USAGE


async def test_tasks_a_component_starts_log_under_its_name() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("control-plane"))
    log = logging.getLogger("test_controlplane")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        async def worker(step: asyncio.Event) -> None:
            await step.wait()  # logs after its creator's block has ended
            log.info("worker")

        steps = asyncio.Event(), asyncio.Event()
        with log_component("gateway"):
            first = asyncio.create_task(worker(steps[0]))
        with log_component("controller-manager"):
            second = asyncio.create_task(worker(steps[1]))
        log.info("host")
        steps[1].set()
        await second
        steps[0].set()
        await first
    finally:
        log.removeHandler(handler)
    assert [json.loads(line)["component"] for line in out.getvalue().splitlines()] == [
        "control-plane", "controller-manager", "gateway"]


@pytest.fixture
def root_logging() -> Iterator[None]:
    """main() routes the root logger to stderr as JSON lines: give the session's handlers back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.mark.usefixtures("root_logging")
def test_bad_flags_are_one_line_and_exit_2_before_anything_starts(capsys: pytest.CaptureFixture[str]) -> None:
    from controllers.controlplane import main

    assert main(["--listen", "127.0.0.1:0"]) == 2
    assert capsys.readouterr().err.strip() == USAGE
    # the gateway's own configuration check (a certificate without its key)
    assert main(["--gateway", "--tls-cert", "/nonexistent.crt", "--controller-manager"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "--tls-key" in err[0], err
    # the controller-manager's (its SystemExit carries the one line)
    with pytest.raises(SystemExit) as exc:
        main(["--gateway", "--controller-manager", "--scheduler-workers", "0"])
    assert str(exc.value) == "error: --scheduler-workers must be at least 1, not 0"


async def test_stopping_stops_both_halves_and_logs_a_failure_instead_of_raising(
        caplog: pytest.LogCaptureFixture) -> None:
    from controllers.controlplane import stop_both

    stopped: list[str] = []

    class Half:
        def __init__(self, name: str, fails: bool) -> None:
            self.name, self.fails = name, fails

        async def stop(self) -> None:
            stopped.append(self.name)
            if self.fails:
                raise RuntimeError(f"{self.name} broke")

    with caplog.at_level(logging.ERROR, logger="controllers.controlplane"):
        await stop_both(Half("manager", True), Half("gateway", False))  # type: ignore[arg-type]
    assert sorted(stopped) == ["gateway", "manager"]
    assert [r.getMessage() for r in caplog.records] == ["controller-manager did not stop cleanly: manager broke"]
