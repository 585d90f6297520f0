"""``kl logs``, ``kl version``, ``kl config``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from kubelite.cli import kubeconfig
from kubelite.cli.common import NamespaceOpt, command, session, split_kind_name
from kubelite.cli.errors import CliError
from kubelite.cli.output import to_json, to_yaml
from kubelite.cli.session import GlobalOptions, Session
from kubelite.version import KUBERNETES_VERSION, __version__, build_commit

app = typer.Typer()


def client_version() -> str:
    return "v" + __version__


def _pod_for(s: Session, target: str) -> str:
    """A pod name from ``POD``, ``pod/POD`` or ``deployment/NAME`` (its first pod, as kubectl does)."""
    (kind, name), = split_kind_name([target]) if "/" in target else [("pods", target)]
    res = s.resource(kind)
    if res.kind == "Pod":
        return str(name)
    owner = s.client.get(res.object_path(str(name), s.namespace))
    labels = ((owner.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    if not labels:
        raise CliError(f"cannot find the pods of {res.type_name}/{name}: it has no selector")
    selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    pods = s.client.get(s.resource("pods").collection_path(s.namespace),
                        {"labelSelector": selector}).get("items") or []
    if not pods:
        raise CliError(f"no pods found for {res.type_name}/{name}")
    pods.sort(key=lambda p: ((p.get("status") or {}).get("phase") != "Running", p["metadata"]["name"]))
    return str(pods[0]["metadata"]["name"])


@command(app, "logs")
def logs(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="POD, pod/POD or deployment/NAME.")],
    container: Annotated[str | None, typer.Option("--container", "-c")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Stream new lines as they come.")] = False,
    tail: Annotated[int, typer.Option(help="Lines from the end (-1: all).")] = -1,
    previous: Annotated[bool, typer.Option("--previous", "-p")] = False,
    timestamps: Annotated[bool, typer.Option("--timestamps")] = False,
    namespace: NamespaceOpt = None,
) -> None:
    """Print a container's logs (the gateway proxies them from the pod's agent)."""
    s = session(ctx, namespace)
    pod = _pod_for(s, target)
    params = {"container": container, "follow": follow or None, "tailLines": tail if tail >= 0 else None,
              "previous": previous or None, "timestamps": timestamps or None}
    out = sys.stdout.buffer
    for chunk in s.client.stream(s.resource("pods").object_path(pod, s.namespace, "log"), params,
                                 accept="*/*", timeout=None if follow else s.client.timeout):
        out.write(chunk)
        if follow:
            out.flush()
    out.flush()


def client_version_info() -> dict[str, str]:
    """kl's side of ``kl version -o json``, in version.Info's field names, plus the Kubernetes version served."""
    commit = build_commit()
    return {"gitVersion": client_version(), "gitCommit": commit.sha, "gitTreeState": commit.tree_state,
            "kubernetesVersion": KUBERNETES_VERSION[2]}


@command(app, "version")
def version(
    ctx: typer.Context,
    client_only: Annotated[bool, typer.Option("--client", help="Only the client's version.")] = False,
    output: Annotated[str | None, typer.Option("--output", "-o", help="json or yaml (as kubectl version -o).")] = None,
) -> None:
    """Print kubelite's version and commit, the Kubernetes version it serves, and the gateway's version."""
    if output not in (None, "json", "yaml"):
        raise CliError(f"--output must be 'yaml' or 'json', not {output!r}")
    client = client_version_info()
    server = None if client_only else session(ctx).client.get("/version")
    if output is not None:
        doc = {"clientVersion": client, **({"serverVersion": server} if server is not None else {})}
        typer.echo(to_json(doc) if output == "json" else to_yaml(doc), nl=output == "json")
        return
    typer.echo(f"Client Version: {client['gitVersion']}")
    if client["gitCommit"]:
        typer.echo(f"Client Commit: {build_commit().short()}")
    typer.echo(f"Kubernetes Version: {client['kubernetesVersion']} (the API kubelite serves)")
    if server is None:
        return
    server_commit = str(server.get("gitCommit") or "")
    typer.echo(f"Server Version: {server.get('gitVersion', '?')}" + (
        f" (commit {server_commit[:12]}{'-dirty' if server.get('gitTreeState') == 'dirty' else ''})"
        if server_commit else ""))


def token_from_file(path: Path) -> str:
    """The first token of a kube-apiserver style token CSV (token,user,uid,"groups")."""
    try:
        lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    except OSError as exc:
        raise CliError(f"cannot read token file {path}: {exc.strerror or exc}") from None
    if not lines:
        raise CliError(f"token file {path} has no token")
    return lines[0].split(",", 1)[0].strip()


@command(app, "config")
def config(
    ctx: typer.Context,
    server: Annotated[str | None, typer.Option(help="Gateway URL (default: --server, $KUBELITE_SERVER or http://127.0.0.1:8080).")] = None,
    token: Annotated[str | None, typer.Option(help="Bearer token (default: $KUBELITE_TOKEN).")] = None,
    token_file: Annotated[Path | None, typer.Option(help="Take the token from a gateway token CSV.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: --kubeconfig, $KUBECONFIG or ~/.kube/config).")] = None,
    name: Annotated[str, typer.Option(help="Name of the cluster, user and context.")] = kubeconfig.CONTEXT_NAME,
    namespace: NamespaceOpt = None,
) -> None:
    """Write a kubeconfig (merged into an existing one) so kl and kubectl reach the gateway."""
    opts = ctx.find_root().obj or GlobalOptions()
    chosen_server = server or opts.server or os.environ.get("KUBELITE_SERVER") or kubeconfig.DEFAULT_SERVER
    chosen_token = token or opts.token or os.environ.get("KUBELITE_TOKEN")
    if token_file is not None:
        chosen_token = token_from_file(token_file)
    path = output or (Path(opts.kubeconfig).expanduser() if opts.kubeconfig else kubeconfig.default_path())
    doc = kubeconfig.with_entry(kubeconfig.load(path), name=name, server=chosen_server,
                                token=chosen_token, namespace=namespace)
    kubeconfig.write(path, doc)
    typer.echo(f'wrote {path}: context "{name}" → {chosen_server}'
               f'{" with a bearer token" if chosen_token else " (no token)"}')
