"""Helpers shared by the command modules: error handling and option types."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from kubelite.cli.errors import CliError
from kubelite.cli.session import GlobalOptions, Session

F = TypeVar("F", bound=Callable[..., Any])

NamespaceOpt = Annotated[str | None, typer.Option("--namespace", "-n", help="Namespace (default: the kubeconfig's, else 'default').")]
AllNamespacesOpt = Annotated[bool, typer.Option("--all-namespaces", "-A", help="All namespaces.")]
SelectorOpt = Annotated[str | None, typer.Option("--selector", "-l", help="Label selector, e.g. app=web.")]
FilesOpt = Annotated[list[str] | None, typer.Option("--filename", "-f", help="File, directory or - (stdin).")]
RecursiveOpt = Annotated[bool, typer.Option("--recursive", "-R", help="Descend into directories given with -f.")]


def command(app: typer.Typer, name: str | None = None, **kwargs: Any) -> Callable[[F], F]:
    """``app.command`` that turns CliErrors into one line on stderr and exit 1."""
    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kw: Any) -> Any:
            try:
                return func(*args, **kw)
            except CliError as exc:
                typer.echo(exc.line(), err=True)
                raise typer.Exit(exc.exit_code) from None
            except KeyboardInterrupt:
                raise typer.Exit(130) from None
            except BrokenPipeError:  # `kl get pods | head`
                sys.stderr.close()
                raise typer.Exit(0) from None
        app.command(name, **kwargs)(wrapper)
        return func
    return decorate


def session(ctx: typer.Context, namespace: str | None = None) -> Session:
    opts = ctx.find_root().obj if ctx.find_root().obj is not None else GlobalOptions()
    return Session.open(opts, namespace)


def split_kind_name(args: list[str]) -> list[tuple[str, str | None]]:
    """``deploy web``, ``deploy/web``, ``deploy/web pod/x``, ``pods a b`` → [(kind, name), ...]."""
    if not args:
        raise CliError("you must specify the type of resource")
    if "/" in args[0]:
        pairs: list[tuple[str, str | None]] = []
        for arg in args:
            kind, _, name = arg.partition("/")
            if not kind or not name:
                raise CliError(f"arguments in resource/name form must have a single resource and name: {arg!r}")
            pairs.append((kind, name))
        return pairs
    kind, names = args[0], args[1:]
    return [(kind, n) for n in names] if names else [(kind, None)]
