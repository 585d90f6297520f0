"""``kl images build [--force] [demo|etcd]...``: build kubelite's local images (:mod:`kubelite.images`);
``kl images load FILE --node N`` (also ``kl image load``): a ``docker save`` tarball or an OCI archive into
one node's image store, posted through the gateway's ``nodes/N/proxy`` to the agent's ``/images/load``
(``agent/images.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import typer

from kubelite.cli.common import command, session
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


@command(app, "load")
def load(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A docker save tarball or an OCI archive.", show_default=False)],
    node: Annotated[str, typer.Option("--node", help="The node whose image store gets it.", show_default=False)],
) -> None:
    """Load an image archive into a node (oci runtime: its image store; docker: docker load)."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {file}: {exc.strerror or exc}") from None
    client = session(ctx).client
    answer = client.request("POST", f"/api/v1/nodes/{quote(node, safe='')}/proxy/images/load", body=data,
                            params={"name": file.name}, content_type="application/x-tar")
    for name in (answer or {}).get("images", []) if isinstance(answer, dict) else []:
        typer.echo(f"Loaded image: {name}")
