"""Rendering for ``kl get``: server-side Tables as kubectl prints them, and
``-o yaml|json|name``. Pure functions: objects in, text out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml

from kubelite.cli.kinds import ResourceInfo
from kubelite.util.humanize import human_duration, parse_time

# kubectl's tabwriter: minimum cell width 6, three spaces of padding.
_MIN_WIDTH = 6
_PADDING = 3


@dataclass(frozen=True)
class TableOptions:
    wide: bool = False
    with_namespace: bool = False
    name_prefix: str = ""  # "deployment.apps/" when several kinds are listed
    show_labels: bool = False
    no_headers: bool = False


def align(rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns left-aligned, as Go's tabwriter does for kubectl (no trailing spaces)."""
    if not rows:
        return []
    ncols = max(len(r) for r in rows)
    widths = [0] * ncols
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in rows:
        cells = [
            cell if i == len(row) - 1 else cell.ljust(max(_MIN_WIDTH, widths[i] + _PADDING))
            for i, cell in enumerate(row)
        ]
        lines.append("".join(cells).rstrip())
    return lines


def cell_text(value: Any) -> str:
    if value is None or value == "":
        return "<none>"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ",".join(cell_text(v) for v in value) or "<none>"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def visible_columns(table: dict[str, Any], wide: bool) -> list[int]:
    return [
        i for i, col in enumerate(table.get("columnDefinitions") or [])
        if wide or not col.get("priority")
    ]


def header_row(table: dict[str, Any], opts: TableOptions) -> list[str]:
    cols = table.get("columnDefinitions") or []
    header = [str(cols[i].get("name", "")).upper() for i in visible_columns(table, opts.wide)]
    if opts.with_namespace:
        header.insert(0, "NAMESPACE")
    if opts.show_labels:
        header.append("LABELS")
    return header


def table_rows(table: dict[str, Any], opts: TableOptions) -> list[list[str]]:
    """The rows of a Table (without header) as strings, per the options."""
    visible = visible_columns(table, opts.wide)
    name_col = _name_column(table)
    result = []
    for row in table.get("rows") or []:
        cells = list(row.get("cells") or [])
        meta = ((row.get("object") or {}).get("metadata")) or {}
        texts = []
        for i in visible:
            text = cell_text(cells[i] if i < len(cells) else None)
            if i == name_col and opts.name_prefix:
                text = opts.name_prefix + text
            texts.append(text)
        if opts.with_namespace:
            texts.insert(0, meta.get("namespace") or "")
        if opts.show_labels:
            labels = meta.get("labels") or {}
            texts.append(",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>")
        result.append(texts)
    return result


def render_table(table: dict[str, Any], opts: TableOptions) -> list[str]:
    rows = table_rows(table, opts)
    if not opts.no_headers:
        rows.insert(0, header_row(table, opts))
    return align(rows)


def _name_column(table: dict[str, Any]) -> int:
    for i, col in enumerate(table.get("columnDefinitions") or []):
        if col.get("format") == "name" or str(col.get("name", "")).lower() == "name":
            return i
    return 0


# -- object output ---------------------------------------------------------------


def as_list(items: list[dict[str, Any]], resource_version: str = "") -> dict[str, Any]:
    return {"apiVersion": "v1", "items": items, "kind": "List",
            "metadata": {"resourceVersion": resource_version}}


def to_yaml(obj: Any) -> str:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1 << 20)


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=4)


def object_name(res: ResourceInfo, obj: dict[str, Any]) -> str:
    """``deployment.apps/web``: the ``-o name`` form, also used by apply and delete."""
    return f"{res.type_name}/{(obj.get('metadata') or {}).get('name', '')}"


# -- times ---------------------------------------------------------------------


def age(timestamp: Any, now: datetime) -> str:
    when = parse_time(timestamp)
    return human_duration((now - when).total_seconds()) if when else "<unknown>"


class RowPrinter:
    """Prints rows one at a time (``get -w``), keeping the columns of the rows before."""

    def __init__(self, first_rows: Sequence[Sequence[str]]) -> None:
        self.widths: list[int] = []
        for row in first_rows:
            self._widen(row)

    def _widen(self, row: Sequence[str]) -> None:
        for i, cell in enumerate(row):
            if i >= len(self.widths):
                self.widths.append(0)
            self.widths[i] = max(self.widths[i], len(cell))

    def line(self, row: Sequence[str]) -> str:
        self._widen(row)
        cells = [
            cell if i == len(row) - 1 else cell.ljust(max(_MIN_WIDTH, self.widths[i] + _PADDING))
            for i, cell in enumerate(row)
        ]
        return "".join(cells).rstrip()
