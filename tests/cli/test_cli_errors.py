"""`kl` turns user errors into one line on stderr and a non-zero exit (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kubelite.cli.main import app
from kubelite.etcd.server import free_port

runner = CliRunner()


@pytest.fixture
def nowhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    server = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("KUBELITE_SERVER", server)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    return server


def run(*args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), input=stdin)


@pytest.mark.parametrize("args", [
    ["get", "pods"], ["get", "deploy", "web", "-o", "yaml"], ["scale", "deploy/web", "--replicas", "2"],
    ["rollout", "status", "deployment/web"], ["logs", "p"], ["version"], ["delete", "pod", "p"],
])
def test_unreachable_gateway_is_one_line(nowhere: str, args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 1
    lines = [ln for ln in result.output.splitlines() if not ln.startswith(("Client ", "Kubernetes Version: "))]
    assert len(lines) == 1 and nowhere in lines[0] and "Traceback" not in result.output


def test_bad_manifests(nowhere: str, tmp_path: Path) -> None:
    assert run("apply", "-f", str(tmp_path / "absent.yaml")).output.strip() == \
        f'error: the path "{tmp_path / "absent.yaml"}" does not exist'
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [unclosed\n")
    result = run("apply", "-f", str(bad))
    assert result.exit_code == 1 and result.output.startswith(f"error: error parsing {bad}:")
    assert len(result.output.strip().splitlines()) == 1
    result = run("apply", "-f", "-", stdin="metadata: {name: x}\n")
    assert result.exit_code == 1 and "no apiVersion or kind" in result.output


def test_bad_arguments(nowhere: str) -> None:
    result = run("get", "pods", "-o", "xml")
    assert result.exit_code == 1 and 'output format "xml"' in result.output
    result = run("delete", "pods", "--cascade", "sideways")
    assert result.exit_code == 1 and "invalid cascade value" in result.output
    result = run("rollout", "status", "deploy/a", "deploy/b")
    assert result.exit_code == 1 and "exactly one" in result.output
    result = run("rollout", "status", "deploy/a", "--revision", "-1")  # refused before any request
    assert result.exit_code == 1 and result.output == "error: revision must be a positive integer: -1\n"


def test_config_writes_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text('abc123,admin,admin,"system:masters"\n')
    target = tmp_path / "kc"
    result = run("config", "--server", "http://127.0.0.1:9999", "--token-file", str(tokens), "-o", str(target))
    assert result.exit_code == 0, result.output
    from kubelite.cli import kubeconfig

    assert kubeconfig.current_settings(kubeconfig.load(target)) == {
        "server": "http://127.0.0.1:9999", "insecure": False, "token": "abc123"}
    monkeypatch.delenv("KUBELITE_SERVER", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(target))
    result = run("get", "pods")  # goes to the kubeconfig's server
    assert result.exit_code == 1 and "127.0.0.1:9999" in result.output


def test_global_options_may_follow_the_command() -> None:
    from kubelite.cli.main import hoist_global_options

    assert hoist_global_options(["get", "pods", "--server", "http://x:1", "-n", "a"]) == \
        ["--server", "http://x:1", "get", "pods", "-n", "a"]
    assert hoist_global_options(["--token", "t", "get", "po", "--kubeconfig=/k"]) == \
        ["--kubeconfig=/k", "--token", "t", "get", "po"]
    assert hoist_global_options(["logs", "p", "--", "--server", "x"]) == ["logs", "p", "--", "--server", "x"]


def test_server_flag_after_the_command(tmp_path: Path) -> None:
    import subprocess
    import sys

    server = f"http://127.0.0.1:{free_port()}"
    result = subprocess.run([sys.executable, "-m", "kubelite.cli", "get", "pods", "--server", server],
                            capture_output=True, text=True, timeout=60,
                            env={"KUBECONFIG": str(tmp_path / "none"), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 1 and server in result.stderr


@pytest.mark.parametrize(("flags", "line"), [
    (["--container-log-max-size", "abc"], "--container-log-max-size: 'abc' is not a valid quantity"),
    (["--container-log-max-size", "10"], "--container-log-max-size: '10' must be at least 1Ki"),
    (["--container-log-max-files", "1"], "--container-log-max-files: 1 must be an integer of at least 2"),
    (["--etcd-compaction-interval", "soon"], "--etcd-compaction-interval:"),
    (["--eviction-hard", "memory.available<1Gi"], "--eviction-hard: eviction signal 'memory.available' is not supported"),
    (["--ready-timeout", "-1"], "--ready-timeout must be a number of seconds above 0"),
    (["--node-lease-duration", "0"], "--node-lease-duration must be at least 1 (seconds)"),
])
def test_kl_up_checks_the_components_flags_before_starting_anything(
    tmp_path: Path, flags: list[str], line: str,
) -> None:
    """A value an agent or server would refuse is refused by kl up itself, before etcd or any
    child starts (nothing is created in the data dir but its lock)."""
    data_dir = tmp_path / "up"
    result = run("up", "--runtime", "sim", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir), *flags)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and line in lines[0] and "Traceback" not in result.output, result.output
    assert not (data_dir / "etcd").exists() and not (data_dir / "logs").exists()
