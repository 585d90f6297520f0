// A live server-side Table of one resource (the gateway's printer columns, as kubectl
// shows them), filtered by the namespace selector and optionally a label selector.

import { KeyedTable, age, h } from "../dom.js";
import { informer } from "../informer.js";

export function cellText(value) {
  if (value === null || value === undefined) return "<none>";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

/** Mounts a table; returns {el, destroy, informer, selected}. opts: path, title, onSelect, actions, labelSelector, filter. */
export const PAGE_SIZE = 100;

export function liveTable(ctx, { path, title, onSelect, actions, labelSelector = "", filter, namespaced = true }) {
  const inf = informer(path, { table: true, labelSelector });
  const state = { selected: null };
  const table = new KeyedTable({ columns: [], onSelect: onSelect && ((key) => { state.selected = key; onSelect(key, inf.items.get(key)); draw(); }),
    caption: title, actions });
  const status = h("span.muted.table-status", { "aria-live": "polite" });
  // Pages of PAGE_SIZE rows: the browser lays out a hundred rows, not thousands, on every change.
  let page = 0;
  const prev = h("button", { type: "button", onclick: () => { page = Math.max(0, page - 1); draw(); } }, "‹ Prev");
  const next = h("button", { type: "button", onclick: () => { page += 1; draw(); } }, "Next ›");
  const el = h("section.table-view", {}, table.el, h("div.pager", {}, prev, next, status));
  const draw = () => {
    const began = performance.now();
    try { drawNow(); } finally { performance.measure("table-draw", { start: began }); }
  };
  const drawNow = () => {
    const cols = inf.columns.filter((c) => c.priority === 0 || c.name === "Node" || c.name === "IP");
    const showNs = namespaced && !ctx.namespace();
    table.setColumns([...(showNs ? ["Namespace"] : []), ...cols.map((c) => c.name)]);
    const idx = cols.map((c) => inf.columns.indexOf(c));
    // The server's Age cells are as old as the event that carried them: ages are computed here,
    // from the object's own timestamps, so an unchanged row still shows the right age.
    const clock = Date.now();
    const timeOf = cols.map((c) => (c.name === "Age" ? (o) => o.metadata.creationTimestamp
      : c.name === "Last Seen" ? (o) => o.lastTimestamp || o.eventTime || o.metadata.creationTimestamp : null));
    const ns = ctx.namespace();
    const entries = [];
    for (const [key, entry] of inf.items) {
      const meta = entry.object.metadata;
      if (ns && meta.namespace && meta.namespace !== ns) continue;
      if (filter && !filter(entry.object)) continue;
      entries.push({ key, object: entry.object, cells: [...(showNs ? [meta.namespace || ""] : []),
        ...idx.map((i, n) => (timeOf[n] ? age(timeOf[n](entry.object), clock) : cellText(entry.cells[i])))] });
    }
    entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const pages = Math.max(1, Math.ceil(entries.length / PAGE_SIZE));
    page = Math.min(page, pages - 1);
    const first = page * PAGE_SIZE;
    table.update(entries.slice(first, first + PAGE_SIZE), state.selected);
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
    prev.hidden = next.hidden = pages === 1;
    const shown = entries.length > PAGE_SIZE ? `${first + 1}–${Math.min(first + PAGE_SIZE, entries.length)} of ${entries.length}` : `${entries.length} shown`;
    status.textContent = inf.state === "live" ? `${shown} · live` : `${inf.state}${inf.error ? ": " + inf.error : ""}`;
  };
  const unsub = inf.subscribe(draw);
  if (!inf.synced) draw();
  ctx.onNamespace.add(draw);
  const ticking = setInterval(draw, 5000); // ages move on: a local redraw, no request
  return { el, informer: inf, state, redraw: draw,
    destroy: () => { unsub(); clearInterval(ticking); ctx.onNamespace.delete(draw); } };
}
