// A live server-side Table of one resource (the gateway's printer columns, as kubectl
// shows them), filtered by the namespace selector and optionally a label selector.

import { KeyedTable, h } from "../dom.js";
import { informer } from "../informer.js";

export function cellText(value) {
  if (value === null || value === undefined) return "<none>";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

/** Mounts a table; returns {el, destroy, informer, selected}. opts: path, title, onSelect, actions, labelSelector, filter. */
export function liveTable(ctx, { path, title, onSelect, actions, labelSelector = "", filter, namespaced = true }) {
  const inf = informer(path, { table: true, labelSelector });
  const state = { selected: null };
  const table = new KeyedTable({ columns: [], onSelect: onSelect && ((key) => { state.selected = key; onSelect(key, inf.items.get(key)); draw(); }),
    caption: title, actions });
  const status = h("p.muted.table-status", { "aria-live": "polite" });
  const el = h("section.table-view", {}, table.el, status);
  const draw = () => {
    const cols = inf.columns.filter((c) => c.priority === 0 || c.name === "Node" || c.name === "IP");
    const showNs = namespaced && !ctx.namespace();
    table.setColumns([...(showNs ? ["Namespace"] : []), ...cols.map((c) => c.name)]);
    const idx = cols.map((c) => inf.columns.indexOf(c));
    const ns = ctx.namespace();
    const entries = [];
    for (const [key, entry] of inf.items) {
      const meta = entry.object.metadata;
      if (ns && meta.namespace && meta.namespace !== ns) continue;
      if (filter && !filter(entry.object)) continue;
      entries.push({ key, object: entry.object, cells: [...(showNs ? [meta.namespace || ""] : []), ...idx.map((i) => cellText(entry.cells[i]))] });
    }
    entries.sort((a, b) => a.key.localeCompare(b.key));
    table.update(entries, state.selected);
    status.textContent = inf.state === "live" ? `${entries.length} shown · live` : `${inf.state}${inf.error ? ": " + inf.error : ""}`;
  };
  const unsub = inf.subscribe(draw);
  if (!inf.synced) draw();
  ctx.onNamespace.add(draw);
  return { el, informer: inf, state, redraw: draw, destroy: () => { unsub(); ctx.onNamespace.delete(draw); } };
}
