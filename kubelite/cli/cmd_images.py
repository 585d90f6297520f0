"""``kl images build [--force] [demo|etcd]...``: build kubelite's local images (:mod:`kubelite.images`)."""

from __future__ import annotations

from typing import Annotated

import typer

from kubelite.cli.common import command
from kubelite.cli.errors import CliError
from kubelite.images.build import TARGETS, ImageBuildError, build_all

app = typer.Typer(help="kubelite's local images, built offline from the package's files.", no_args_is_help=True)


@command(app, "build")
def build(
    names: Annotated[list[str] | None, typer.Argument(
        help=f"Images to build: {', '.join(TARGETS)} (default: all).", show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even when the image is up to date.")] = False,
) -> None:
    """Build kubelite/demo (the demo and the pod sandbox) and kubelite/etcd when missing or out of date."""
    try:
        build_all(names or TARGETS, force=force, say=lambda line: typer.echo(line, err=False))
    except ImageBuildError as exc:
        raise CliError(str(exc)) from None
