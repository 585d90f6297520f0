"""``kl get``, ``kl describe``, ``kl events``: reading objects through the gateway."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from kubelite.cli import columns, describe as describers, output
from kubelite.cli.client import TABLE_ACCEPT
from kubelite.cli.common import AllNamespacesOpt, NamespaceOpt, SelectorOpt, command, session, split_kind_name
from kubelite.cli.errors import ApiStatusError, CliError
from kubelite.cli.kinds import ResourceInfo
from kubelite.cli.session import Session
from kubelite.util import clock

app = typer.Typer()

ALL_CATEGORY = ("pods", "replicasets", "deployments")  # `kl get all`
OutputOpt = Annotated[str | None, typer.Option("--output", "-o", help="wide, yaml, json or name.")]


def as_table(res: ResourceInfo, answer: dict[str, Any]) -> dict[str, Any]:
    """The gateway's Table, or one built here if it answered a plain object or list."""
    if answer.get("kind") == "Table":
        return answer
    items = answer.get("items") if "items" in answer else [answer]
    table = columns.build_table(res.kind, items or [], clock.now())
    table["metadata"] = answer.get("metadata") or {}
    return table


def with_type(res: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
    """Items of a list have no apiVersion/kind; kubectl shows them."""
    return {"apiVersion": res.api_version, "kind": res.kind, **obj}


@command(app, "get")
def get(
    ctx: typer.Context,
    args: Annotated[list[str], typer.Argument(help="KIND [NAME...] or KIND/NAME...; KIND may be a comma list.")],
    out: OutputOpt = None,
    selector: SelectorOpt = None,
    field_selector: Annotated[str | None, typer.Option("--field-selector")] = None,
    namespace: NamespaceOpt = None,
    all_namespaces: AllNamespacesOpt = False,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="After listing, watch for changes.")] = False,
    show_labels: Annotated[bool, typer.Option("--show-labels")] = False,
    no_headers: Annotated[bool, typer.Option("--no-headers")] = False,
) -> None:
    """Display one or many resources."""
    s = session(ctx, namespace)
    if out not in (None, "wide", "yaml", "json", "name"):
        raise CliError(f'unable to match a printer suitable for the output format "{out}", '
                       "allowed formats are: json,name,wide,yaml")
    requests: list[tuple[ResourceInfo, str | None]] = []
    for kind, name in split_kind_name(args):
        for one in kind.split(","):
            for each in ALL_CATEGORY if one == "all" else (one,):
                requests.append((s.resource(each), name))
    ns = None if all_namespaces else s.namespace
    query = {"labelSelector": selector, "fieldSelector": field_selector}
    several = len({res for res, _ in requests}) > 1
    if out in ("yaml", "json"):
        _print_objects(s, requests, ns, query, out)
        return
    printed = False
    for res, name in requests:
        path = res.object_path(name, ns) if name else res.collection_path(ns)
        if out == "name":
            answer = s.client.get(path, query if not name else None)
            for item in answer.get("items", [answer]) if isinstance(answer, dict) else []:
                typer.echo(output.object_name(res, item))
                printed = True
            continue
        table = as_table(res, s.client.get(path, query if not name else None, accept=TABLE_ACCEPT))
        opts = output.TableOptions(
            wide=out == "wide", with_namespace=all_namespaces and res.namespaced,
            name_prefix=f"{res.type_name}/" if several else "", show_labels=show_labels,
            no_headers=no_headers)
        if not table.get("rows") and not watch:
            continue
        if printed:
            typer.echo("")
        lines = output.render_table(table, opts)
        for line in lines:
            typer.echo(line)
        printed = True
        if watch:
            _watch(s, res, name, ns, query, table, opts)
    if not printed:
        if ns and all(res.namespaced for res, _ in requests):
            typer.echo(f"No resources found in {ns} namespace.", err=True)
        else:
            typer.echo("No resources found", err=True)


def _print_objects(s: Session, requests: list[tuple[ResourceInfo, str | None]], ns: str | None,
                   query: dict[str, Any], out: str) -> None:
    items: list[dict[str, Any]] = []
    single = len(requests) == 1 and requests[0][1] is not None
    for res, name in requests:
        if name:
            items.append(with_type(res, s.client.get(res.object_path(name, ns))))
        else:
            answer = s.client.get(res.collection_path(ns), query)
            items += [with_type(res, item) for item in answer.get("items") or []]
    doc = items[0] if single else output.as_list(items)
    typer.echo(output.to_yaml(doc) if out == "yaml" else output.to_json(doc), nl=out != "yaml")


def _watch(s: Session, res: ResourceInfo, name: str | None, ns: str | None, query: dict[str, Any],
           table: dict[str, Any], opts: output.TableOptions) -> None:
    """Print a row per change until interrupted; resume after the server ends a watch."""
    printer = output.RowPrinter(([] if opts.no_headers else [output.header_row(table, opts)])
                                + output.table_rows(table, opts))
    params = dict(query)
    if name:
        params["fieldSelector"] = f"metadata.name={name}"
    version = (table.get("metadata") or {}).get("resourceVersion")
    while True:
        try:
            for event in s.client.watch(res.collection_path(ns), {**params, "resourceVersion": version,
                                                                 "allowWatchBookmarks": "true"},
                                        accept=TABLE_ACCEPT):
                obj = event.get("object") or {}
                version = (obj.get("metadata") or {}).get("resourceVersion") or version
                if event.get("type") == "BOOKMARK":
                    continue
                rows_table = as_table(res, obj)
                if not rows_table.get("columnDefinitions"):
                    rows_table = {**rows_table, "columnDefinitions": table.get("columnDefinitions")}
                for row in output.table_rows(rows_table, opts):
                    if name and row and not _row_is(rows_table, name):
                        continue
                    typer.echo(printer.line(row))
        except ApiStatusError as exc:
            if exc.code != 410:
                raise
            version = None  # too old: start again from now


def _row_is(table: dict[str, Any], name: str) -> bool:
    rows = table.get("rows") or []
    meta = ((rows[0].get("object") or {}).get("metadata") or {}) if rows else {}
    return not meta.get("name") or meta.get("name") == name


def _list_events(s: Session, ns: str | None, field_selector: str | None) -> list[dict[str, Any]]:
    """Events, filtered by the gateway when it can (the caller filters again in any case)."""
    path = s.resource("events").collection_path(ns)
    try:
        return s.client.get(path, {"fieldSelector": field_selector}).get("items") or []
    except ApiStatusError as exc:
        if not field_selector or exc.code not in (400, 422):
            raise
        return s.client.get(path).get("items") or []


@command(app, "describe")
def describe(
    ctx: typer.Context,
    args: Annotated[list[str], typer.Argument(help="KIND NAME or KIND/NAME.")],
    namespace: NamespaceOpt = None,
    selector: SelectorOpt = None,
) -> None:
    """Show details of a resource, with its events."""
    s = session(ctx, namespace)
    targets: list[tuple[ResourceInfo, dict[str, Any]]] = []
    for kind, name in split_kind_name(args):
        res = s.resource(kind)
        if name:
            targets.append((res, s.client.get(res.object_path(name, s.namespace))))
        else:
            answer = s.client.get(res.collection_path(s.namespace), {"labelSelector": selector})
            targets += [(res, item) for item in answer.get("items") or []]
    if not targets:
        typer.echo(f"No resources found in {s.namespace} namespace.", err=True)
    for i, (res, obj) in enumerate(targets):
        if i:
            typer.echo("\n")
        for line in _describe_lines(s, res, with_type(res, obj)):
            typer.echo(line)


def _describe_lines(s: Session, res: ResourceInfo, obj: dict[str, Any]) -> list[str]:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    if res.kind == "Deployment":
        rs_res = s.resource("replicasets")
        all_rs = s.client.get(rs_res.collection_path(ns)).get("items") or []
        owned = [rs for rs in all_rs if any(r.get("uid") == meta.get("uid")
                                            for r in (rs.get("metadata") or {}).get("ownerReferences") or [])]
        lines = describers.describe_deployment(obj, clock.now(), owned)
    else:
        lines = describers.DESCRIBERS.get(res.kind, describers.describe_generic)(obj, clock.now())
    selector = f"involvedObject.name={meta.get('name')}"
    events = describers.events_for(obj, _list_events(s, ns, selector))
    return lines + describers.event_lines(events, clock.now())


@command(app, "events")
def events(
    ctx: typer.Context,
    namespace: NamespaceOpt = None,
    all_namespaces: AllNamespacesOpt = False,
    for_object: Annotated[str | None, typer.Option("--for", help="Only events about KIND/NAME.")] = None,
    types: Annotated[str | None, typer.Option("--types", help="Comma list: Normal,Warning.")] = None,
) -> None:
    """List events, oldest first."""
    s = session(ctx, namespace)
    ns = None if all_namespaces else s.namespace
    items = _list_events(s, ns, None)
    if for_object:
        (kind, name), = split_kind_name([for_object])
        res = s.resource(kind)
        items = [e for e in items if (e.get("involvedObject") or {}).get("name") == name
                 and (e.get("involvedObject") or {}).get("kind") in (res.kind, None)]
    if types:
        wanted = {t.strip().lower() for t in types.split(",")}
        items = [e for e in items if str(e.get("type", "")).lower() in wanted]
    if not items:
        typer.echo(f"No events found in {ns} namespace." if ns else "No events found.", err=True)
        return
    items.sort(key=lambda e: str(columns.event_time(e) or ""))
    table = columns.build_table("Event", items, clock.now())
    for line in output.render_table(table, output.TableOptions(with_namespace=all_namespaces)):
        typer.echo(line)
