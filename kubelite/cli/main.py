"""The ``kl`` command: global options and the commands of each module."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from kubelite.cli import cmd_chaos, cmd_cluster, cmd_completion, cmd_get, cmd_images, cmd_misc, cmd_rollout, cmd_write
from kubelite.cli.session import GlobalOptions

GLOBAL_OPTIONS = ("--server", "-s", "--token", "--kubeconfig", "--request-timeout")


def hoist_global_options(argv: list[str]) -> list[str]:
    """Move global options typed after the command to the front, as kubectl allows
    (``kl get pods --server URL`` → ``kl --server URL get pods``). Stops at ``--``."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest += argv[i:]
            break
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS and rest:
            if "=" in arg or i + 1 >= len(argv):
                front.append(arg)
                i += 1
            else:
                front += [arg, argv[i + 1]]
                i += 2
            continue
        rest.append(arg)
        i += 1
    return front + rest


class _Kl(typer.Typer):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not args and "args" not in kwargs:
            kwargs["args"] = hoist_global_options(sys.argv[1:])
        if os.environ.get(cmd_completion.COMPLETE_VAR):  # a shell asks for completions
            cmd_completion.enable()
        return super().__call__(*args, **kwargs)


app = _Kl(
    name="kl",
    help="kubelite's CLI: kubectl-like commands against the gateway, and `kl up` for a local cluster.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def main(
    ctx: typer.Context,
    server: Annotated[str | None, typer.Option("--server", "-s", help="Gateway URL (else $KUBELITE_SERVER, the kubeconfig, http://127.0.0.1:8080).")] = None,
    token: Annotated[str | None, typer.Option(help="Bearer token (else $KUBELITE_TOKEN or the kubeconfig's).")] = None,
    kubeconfig: Annotated[str | None, typer.Option(help="Kubeconfig file (else $KUBECONFIG or ~/.kube/config).")] = None,
    request_timeout: Annotated[float, typer.Option(help="Seconds per request.")] = 30.0,
) -> None:
    ctx.obj = GlobalOptions(server=server, token=token, kubeconfig=kubeconfig, request_timeout=request_timeout)


for module in (cmd_get, cmd_write, cmd_misc, cmd_cluster, cmd_completion):
    for info in module.app.registered_commands:
        app.registered_commands.append(info)
app.add_typer(cmd_rollout.app, name="rollout")
app.add_typer(cmd_images.app, name="images")
app.add_typer(cmd_images.app, name="image", hidden=True)  # `kl image load`, as `docker image load`
app.add_typer(cmd_chaos.app, name="chaos")
