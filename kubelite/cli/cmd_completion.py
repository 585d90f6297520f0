"""``kl completion bash|zsh|fish``: the shell completion script, from typer (click's completion protocol).

Load it with ``source <(kl completion bash)`` (or write it to the shell's
completion directory). The script calls ``kl`` back with ``_KL_COMPLETE`` set;
typer answers with the commands and options that fit.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer
from typer._completion_classes import completion_init
from typer._completion_shared import get_completion_script

from kubelite.cli.common import command

PROG_NAME = "kl"
COMPLETE_VAR = "_KL_COMPLETE"  # click's rule: _<PROG>_COMPLETE

app = typer.Typer()


def enable() -> None:
    """Register typer's completion classes with click, which answers ``_KL_COMPLETE`` requests.
    (typer does it only for apps with ``--install-completion``, which kl does not want.)"""
    completion_init()


class Shell(str, Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


@command(app, "completion")
def completion(shell: Annotated[Shell, typer.Argument(help="bash, zsh or fish.")]) -> None:
    """Print the shell completion script (bash: `source <(kl completion bash)`)."""
    typer.echo(get_completion_script(prog_name=PROG_NAME, complete_var=COMPLETE_VAR, shell=shell.value))
