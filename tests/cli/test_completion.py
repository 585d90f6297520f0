"""``kl completion bash|zsh|fish`` prints a script, and kl answers the completion
requests that script makes (``_KL_COMPLETE``), with kl's real commands and options."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.cli.cluster import kl_argv


def kl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(kl_argv(*args), capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize(("shell", "marker"), [
    ("bash", "complete -o default -F _kl_completion kl"), ("zsh", "#compdef kl"), ("fish", "complete --command kl"),
])
def test_completion_script_for_each_shell(shell: str, marker: str) -> None:
    result = kl("completion", shell)
    assert result.returncode == 0 and marker in result.stdout and "_KL_COMPLETE=complete_" in result.stdout


def test_unknown_shell_is_refused() -> None:
    result = kl("completion", "tcsh")
    assert result.returncode == 2 and "tcsh" in result.stderr


def test_the_script_gets_kls_commands_and_options() -> None:
    commands = kl(env={"_KL_COMPLETE": "complete_bash", "COMP_WORDS": "kl ro", "COMP_CWORD": "1"})
    assert commands.returncode == 0 and commands.stdout.split() == ["rollout"]
    sub = kl(env={"_KL_COMPLETE": "complete_bash", "COMP_WORDS": "kl images b", "COMP_CWORD": "2"})
    assert sub.stdout.split() == ["build"]
    options = kl(env={"_KL_COMPLETE": "complete_bash", "COMP_WORDS": "kl up --ru", "COMP_CWORD": "2"})
    assert options.stdout.split() == ["--runtime"]
    shells = kl(env={"_KL_COMPLETE": "complete_fish", "_TYPER_COMPLETE_ARGS": "kl completion ",
                     "_TYPER_COMPLETE_FISH_ACTION": "get-args"})
    assert shells.stdout.split() == ["bash", "zsh", "fish"]


def test_bash_sources_the_script_and_completes(tmp_path: Path) -> None:
    """The real bash: the script defines the function the shell calls on <TAB> (with the command as $1)."""
    shim = tmp_path / "kl"  # `kl` on PATH runs this checkout's kl, as an installed one would
    shim.write_text(f'#!/bin/sh\nexec {" ".join(kl_argv())} "$@"\n')
    shim.chmod(0o755)
    script = 'source <(kl completion bash); COMP_WORDS=(kl rollout un); COMP_CWORD=2; _kl_completion kl; ' \
             'echo "${COMPREPLY[@]}"'
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"})
    assert result.returncode == 0 and result.stdout.split() == ["undo"], result.stderr
