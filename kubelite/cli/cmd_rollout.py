"""``kl rollout status|history|undo|restart|pause|resume deployment/NAME``; ``status``, ``history``,
``undo`` and ``restart`` also take ``daemonset/NAME`` and ``statefulset/NAME``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from kubelite.cli import output, rollout as logic, set_rollout
from kubelite.cli.client import JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH
from kubelite.cli.common import NamespaceOpt, command, session, split_kind_name
from kubelite.cli.errors import CliError
from kubelite.cli.kinds import ResourceInfo
from kubelite.cli.session import Session
from kubelite.cli.waiting import watch_object
from kubelite.util import clock

app = typer.Typer(help="Manage the rollout of a Deployment.", no_args_is_help=True)

TargetArg = Annotated[list[str], typer.Argument(help="deployment/NAME or deployment NAME (status, history, undo "
                                                     "and restart: also daemonset/NAME, statefulset/NAME).")]
SETS = ("DaemonSet", "StatefulSet")


def _target(s: Session, args: list[str], *, sets: bool = False) -> tuple[ResourceInfo, str]:
    pairs = split_kind_name(args)
    if len(pairs) != 1 or not pairs[0][1]:
        raise CliError("expected exactly one deployment/NAME")
    kind, name = pairs[0]
    res = s.resource(kind)
    if res.kind != "Deployment" and not (sets and res.kind in SETS):
        allowed = "deployments, daemonsets and statefulsets" if sets else "deployments"
        raise CliError(f"no rollout support for {res.qualified_plural}: only {allowed}")
    assert name is not None
    return res, name


def _revisions(s: Session, ns: str) -> list[dict[str, Any]]:
    return s.client.get(s.resource("controllerrevisions").collection_path(ns)).get("items") or []


def _replicasets(s: Session, ns: str) -> list[dict[str, Any]]:
    return s.client.get(s.resource("replicasets").collection_path(ns)).get("items") or []


@command(app, "status")
def status(
    ctx: typer.Context,
    args: TargetArg,
    namespace: NamespaceOpt = None,
    watch: Annotated[bool, typer.Option("--watch/--no-watch", "-w")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait (0: no limit).")] = 0,
    revision: Annotated[int, typer.Option(help="Pin to this revision; fail if the deployment runs another.")] = 0,
) -> None:
    """Follow a rollout until it finishes, printing progress as it happens."""
    if revision < 0:  # kubectl's words (rollout_status.go Validate)
        raise CliError(f"revision must be a positive integer: {revision}")
    s = session(ctx, namespace)
    res, name = _target(s, args, sets=True)
    last: list[str] = []

    def show(dep: dict[str, Any] | None) -> bool:
        if dep is None:
            raise CliError(f'{res.kind.lower()} "{name}" was deleted')
        state = set_rollout.status(res.kind, dep) if res.kind in SETS else logic.rollout_status(dep, revision)
        if state.error:
            raise CliError(state.message)
        if not last or last[-1] != state.message:
            last.append(state.message)
            typer.echo(state.message)
        return state.done or not watch

    watch_object(s, res, name, s.namespace, timeout=timeout or None, on_change=show)


@command(app, "history")
def history(
    ctx: typer.Context,
    args: TargetArg,
    namespace: NamespaceOpt = None,
    revision: Annotated[int, typer.Option(help="Show the pod template of this revision.")] = 0,
) -> None:
    """List the revisions of a deployment (from its ReplicaSets)."""
    s = session(ctx, namespace)
    res, name = _target(s, args, sets=True)
    dep = s.client.get(res.object_path(name, s.namespace))
    if res.kind in SETS:
        revisions = set_rollout.history(dep, _revisions(s, s.namespace))
    else:
        revisions = logic.history(dep, _replicasets(s, s.namespace))
    if revision:
        chosen = [rs for rev, rs in revisions if rev == revision]
        if not chosen:
            raise CliError(f"unable to find the specified revision {revision}")
        typer.echo(f"{res.type_name}/{name} with revision #{revision}")
        template = set_rollout.template_of(chosen[0]) if res.kind in SETS else logic.template_for_undo(chosen[0])
        typer.echo(output.to_yaml({"Pod Template": template}), nl=False)
        return
    for line in logic.history_lines(f"{res.type_name}/{name}", revisions):
        typer.echo(line)


@command(app, "undo")
def undo(
    ctx: typer.Context,
    args: TargetArg,
    namespace: NamespaceOpt = None,
    to_revision: Annotated[int, typer.Option("--to-revision", help="0: the previous revision.")] = 0,
) -> None:
    """Roll a deployment back to its previous (or a given) revision."""
    s = session(ctx, namespace)
    res, name = _target(s, args, sets=True)
    path = res.object_path(name, s.namespace)
    dep = s.client.get(path)
    if res.kind in SETS:
        _undo_set(s, res, name, dep, to_revision)
        return
    if (dep.get("spec") or {}).get("paused"):
        raise CliError(f"you cannot rollback a paused deployment; resume it first with "
                       f"'kl rollout resume deployment/{name}' and try again")
    try:
        rev, rs = logic.undo_target(dep, _replicasets(s, s.namespace), to_revision)
    except logic.RolloutError as exc:
        raise CliError(str(exc)) from None
    template = logic.template_for_undo(rs)
    if logic.same_template((dep.get("spec") or {}).get("template") or {}, template):
        typer.echo(f"{res.type_name}/{name} skipped rollback (current template already matches revision {rev})")
        return
    # as kubectl: the template, and the ReplicaSet's annotations (change-cause...) on the Deployment;
    # "add" (not kubectl's "replace") so that a Deployment without annotations can be rolled back too
    patch = [{"op": "replace", "path": "/spec/template", "value": template},
             {"op": "add", "path": "/metadata/annotations", "value": logic.annotations_for_undo(dep, rs)}]
    s.client.patch(path, patch, content_type=JSON_PATCH)
    typer.echo(f"{res.type_name}/{name} rolled back")


def _undo_set(s: Session, res: ResourceInfo, name: str, obj: dict[str, Any], to_revision: int) -> None:
    """kubectl's DaemonSet/StatefulSet rollbacker: the revision's data as a strategic merge patch."""
    try:
        rev, revision = set_rollout.undo_target(obj, _revisions(s, s.namespace), to_revision)
    except logic.RolloutError as exc:
        raise CliError(str(exc)) from None
    if set_rollout.already_current(obj, revision):
        typer.echo(f"{res.type_name}/{name} skipped rollback (current template already matches revision {rev})")
        return
    s.client.patch(res.object_path(name, s.namespace), revision.get("data") or {}, content_type=STRATEGIC_PATCH)
    typer.echo(f"{res.type_name}/{name} rolled back")


@command(app, "restart")
def restart(ctx: typer.Context, args: TargetArg, namespace: NamespaceOpt = None) -> None:
    """Replace every pod (new template annotation kubectl.kubernetes.io/restartedAt)."""
    s = session(ctx, namespace)
    res, name = _target(s, args, sets=True)
    dep = s.client.get(res.object_path(name, s.namespace))
    if (dep.get("spec") or {}).get("paused"):
        raise CliError("can't restart paused deployment (run rollout resume first)")
    stamp = clock.format_time(clock.now())
    patch = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}}
    s.client.patch(res.object_path(name, s.namespace), patch, content_type=MERGE_PATCH)
    typer.echo(f"{res.type_name}/{name} restarted")


def _set_paused(ctx: typer.Context, args: list[str], namespace: str | None, paused: bool) -> None:
    s = session(ctx, namespace)
    res, name = _target(s, args)
    dep = s.client.get(res.object_path(name, s.namespace))
    if bool((dep.get("spec") or {}).get("paused")) == paused:
        raise CliError(f'{res.qualified_plural} "{name}" is {"already" if paused else "not"} paused')
    s.client.patch(res.object_path(name, s.namespace), {"spec": {"paused": paused}}, content_type=MERGE_PATCH)
    typer.echo(f"{res.type_name}/{name} {'paused' if paused else 'resumed'}")


@command(app, "pause")
def pause(ctx: typer.Context, args: TargetArg, namespace: NamespaceOpt = None) -> None:
    """Stop rolling out template changes."""
    _set_paused(ctx, args, namespace, True)


@command(app, "resume")
def resume(ctx: typer.Context, args: TargetArg, namespace: NamespaceOpt = None) -> None:
    """Resume rolling out a paused deployment."""
    _set_paused(ctx, args, namespace, False)
