"""``kl apply``, ``kl delete``, ``kl scale``: changing objects through the gateway."""

from __future__ import annotations

import copy
from typing import Annotated, Any

import typer

from kubelite.cli import apply as applying
from kubelite.cli.client import MERGE_PATCH
from kubelite.cli.common import FilesOpt, NamespaceOpt, RecursiveOpt, SelectorOpt, command, session, split_kind_name
from kubelite.cli.errors import ApiStatusError, CliError
from kubelite.cli.kinds import ResourceInfo
from kubelite.cli.session import Session, load_manifests
from kubelite.cli.waiting import wait_deleted

app = typer.Typer()


def apply_object(s: Session, res: ResourceInfo, ns: str | None, config: dict[str, Any]) -> str:
    """Create or patch one object; returns 'created', 'configured' or 'unchanged'."""
    name = (config.get("metadata") or {}).get("name")
    if not name:
        raise CliError(f"a {res.kind} in the manifest has no metadata.name")
    try:
        live = s.client.get(res.object_path(name, ns))
    except ApiStatusError as exc:
        if exc.code != 404:
            raise
        live = None
    plan = applying.plan_apply(config, live)
    if plan.action == "create":
        s.client.post(res.collection_path(ns), plan.body)
    elif plan.action == "patch":
        s.client.patch(res.object_path(name, ns), plan.body, content_type=MERGE_PATCH)
    return plan.verb


@command(app, "apply")
def apply(
    ctx: typer.Context,
    filename: FilesOpt = None,
    recursive: RecursiveOpt = False,
    namespace: NamespaceOpt = None,
) -> None:
    """Create or update objects from manifests (client-side apply, like kubectl)."""
    if not filename:
        raise CliError("must specify one of -f and -k")
    s = session(ctx, namespace)
    failures = []
    for source, doc in load_manifests(filename, recursive):
        res = s.resource_of(doc)
        ns = s.namespace_of(res, doc, namespace)
        config = copy.deepcopy(doc)
        if ns:
            config.setdefault("metadata", {})["namespace"] = ns
        try:
            verb = apply_object(s, res, ns, config)
        except ApiStatusError as exc:
            failures.append(exc)
            typer.echo(exc.line(), err=True)
            continue
        typer.echo(f"{res.type_name}/{config['metadata']['name']} {verb}")
    if failures:
        raise typer.Exit(1)


@command(app, "delete")
def delete(
    ctx: typer.Context,
    args: Annotated[list[str] | None, typer.Argument(help="KIND NAME... or KIND/NAME...")] = None,
    filename: FilesOpt = None,
    recursive: RecursiveOpt = False,
    namespace: NamespaceOpt = None,
    selector: SelectorOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="Every object of the kind in the namespace.")] = False,
    cascade: Annotated[str, typer.Option(help="background, foreground or orphan.")] = "background",
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until the objects are gone.")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait (0: no limit).")] = 0,
    grace_period: Annotated[int | None, typer.Option("--grace-period")] = None,
    ignore_not_found: Annotated[bool, typer.Option("--ignore-not-found")] = False,
) -> None:
    """Delete objects by file, by name, or by label selector."""
    policy = {"background": "Background", "foreground": "Foreground", "orphan": "Orphan",
              "true": "Background", "false": "Orphan"}.get(cascade.lower())
    if policy is None:
        raise CliError(f'invalid cascade value ({cascade}). Must be "background", "foreground", or "orphan".')
    s = session(ctx, namespace)
    targets: list[tuple[ResourceInfo, str | None, str]] = []
    if filename:
        for _source, doc in load_manifests(filename, recursive):
            res = s.resource_of(doc)
            targets.append((res, s.namespace_of(res, doc, namespace), doc["metadata"]["name"]))
    elif args:
        for kind, name in split_kind_name(args):
            res = s.resource(kind)
            ns = s.namespace if res.namespaced else None
            if name:
                targets.append((res, ns, name))
            elif selector or all_:
                found = s.client.get(res.collection_path(ns), {"labelSelector": selector})
                targets += [(res, ns, item["metadata"]["name"]) for item in found.get("items") or []]
            else:
                raise CliError("resource(s) were provided, but no name was specified")
    else:
        raise CliError("You must provide one or more resources by argument or filename.")
    if not targets and (selector or all_):
        typer.echo("No resources found", err=True)
    params = {"propagationPolicy": policy, "gracePeriodSeconds": grace_period}
    deleted: list[tuple[ResourceInfo, str | None, str, str | None]] = []
    failed = False
    for res, ns, name in targets:
        try:
            answer = delete_object(s, res.object_path(name, ns), params)
        except ApiStatusError as exc:
            if exc.code == 404 and ignore_not_found:
                continue
            typer.echo(exc.line(), err=True)
            failed = True
            continue
        uid = ((answer or {}).get("metadata") or {}).get("uid") if isinstance(answer, dict) else None
        typer.echo(f'{res.type_name} "{name}" deleted')
        deleted.append((res, ns, name, uid))
    if wait:
        for res, ns, name, uid in deleted:
            wait_deleted(s, res, name, ns, uid, timeout or None)
    if failed:
        raise typer.Exit(1)


def delete_object(s: Session, path: str, params: dict[str, Any], attempts: int = 3) -> Any:
    """DELETE without preconditions. A 409 Conflict here only means a controller wrote the
    object at the same moment (the gateway's delete is a compare-and-swap): ask again."""
    for attempt in range(attempts):
        try:
            return s.client.delete(path, params)
        except ApiStatusError as exc:
            if exc.code != 409 or exc.reason != "Conflict" or attempt == attempts - 1:
                raise
    return None


@command(app, "scale")
def scale(
    ctx: typer.Context,
    args: Annotated[list[str], typer.Argument(help="KIND/NAME or KIND NAME.")],
    replicas: Annotated[int, typer.Option("--replicas", min=0, help="The new number of replicas.")],
    namespace: NamespaceOpt = None,
) -> None:
    """Set the number of replicas of a Deployment or ReplicaSet."""
    s = session(ctx, namespace)
    for kind, name in split_kind_name(args):
        if not name:
            raise CliError("resource(s) were provided, but no name was specified")
        res = s.resource(kind)
        body = {"spec": {"replicas": replicas}}
        try:
            s.client.patch(res.object_path(name, s.namespace, "scale"), body, content_type=MERGE_PATCH)
        except ApiStatusError as exc:
            if exc.code not in (404, 405):
                raise
            # No scale subresource here: the object itself (404 if it does not exist).
            s.client.get(res.object_path(name, s.namespace))
            s.client.patch(res.object_path(name, s.namespace), body, content_type=MERGE_PATCH)
        typer.echo(f"{res.type_name}/{name} scaled")
