"""``kl completion bash|zsh|fish`` prints a script, and kl answers the completion
requests that script makes (``_KL_COMPLETE``), with kl's real commands and options."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kubelite.cli import cmd_completion
from kubelite.cli.main import app
from tests.cli.cluster import kl_argv

runner = CliRunner()


@pytest.mark.parametrize(("shell", "marker"), [
    ("bash", "complete -o default -F _kl_completion kl"), ("zsh", "#compdef kl"), ("fish", "complete --command kl"),
])
def test_completion_script_for_each_shell(shell: str, marker: str) -> None:
    result = runner.invoke(app, ["completion", shell])
    assert result.exit_code == 0 and marker in result.output and "_KL_COMPLETE=complete_" in result.output


def test_unknown_shell_is_refused() -> None:
    result = runner.invoke(app, ["completion", "tcsh"])
    assert result.exit_code == 2 and "tcsh" in result.output


def complete(env: dict[str, str]) -> list[str]:
    cmd_completion.enable()  # what kl's entry point does when _KL_COMPLETE is set
    result = runner.invoke(app, [], prog_name="kl", env={"_KL_COMPLETE": "complete_bash", **env})
    assert result.exit_code == 0, result.output
    return result.output.split()


def test_completion_requests_get_kls_commands_and_options() -> None:
    assert complete({"COMP_WORDS": "kl ro", "COMP_CWORD": "1"}) == ["rollout"]
    assert complete({"COMP_WORDS": "kl images b", "COMP_CWORD": "2"}) == ["build"]
    assert complete({"COMP_WORDS": "kl up --ru", "COMP_CWORD": "2"}) == ["--runtime"]
    assert complete({"_KL_COMPLETE": "complete_fish", "_TYPER_COMPLETE_ARGS": "kl completion ",
                     "_TYPER_COMPLETE_FISH_ACTION": "get-args"}) == ["bash", "zsh", "fish"]


def test_bash_sources_the_script_and_completes(tmp_path: Path) -> None:
    """The real bash and the real entry point: the script defines the function the shell calls
    on <TAB> (with the command as $1), which runs kl with _KL_COMPLETE set."""
    shim = tmp_path / "kl"  # `kl` on PATH runs this checkout's kl, as an installed one would
    shim.write_text(f'#!/bin/sh\nexec {" ".join(kl_argv())} "$@"\n')
    shim.chmod(0o755)
    script = 'source <(kl completion bash); COMP_WORDS=(kl rollout un); COMP_CWORD=2; _kl_completion kl; ' \
             'echo "${COMPREPLY[@]}"'
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"})
    assert result.returncode == 0 and result.stdout.split() == ["undo"], result.stderr
