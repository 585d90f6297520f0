// DOM helpers. Everything that comes from the cluster goes in as text (text nodes,
// textContent, attribute values set one by one): no markup is ever parsed, so a name or
// label holding markup renders as the characters it is.

/** h("tag.class", {attr: value, onclick: fn}, child...) — children: Node, string, number, null, arrays. */
export function h(spec, attrs = {}, ...children) {
  const [head, ...classes] = spec.split(".");
  const [tag, id] = head.split("#");
  const el = document.createElement(tag || "div");
  if (id) el.id = id;
  if (classes.length) el.className = classes.join(" ");
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** Kubernetes-style age ("5s", "3m", "2h", "4d") of an RFC 3339 timestamp. */
export function age(timestamp, now = Date.now()) {
  if (!timestamp) return "<unknown>";
  const s = Math.max(0, Math.floor((now - Date.parse(timestamp)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function labelsText(labels) {
  return Object.entries(labels || {}).map(([k, v]) => `${k}=${v}`).join(", ");
}

/** A keyed table body: rows are reused while their cells are unchanged, so a watch
 *  event touching one object costs one row, not a re-render of a thousand. */
export class KeyedTable {
  constructor({ columns, onSelect, caption, actions }) {
    this.onSelect = onSelect;
    this.actions = actions;
    this.rows = new Map(); // key -> {tr, sig}
    this.order = "";
    this.tbody = h("tbody");
    this.thead = h("thead");
    this.el = h("div.table-wrap", {}, h("table", {}, caption ? h("caption", {}, caption) : null, this.thead, this.tbody));
    this.setColumns(columns || []);
  }
  setColumns(columns) {
    const names = columns.join("\u0000");
    if (names === this.columnNames) return;
    this.columnNames = names;
    replace(this.thead, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)), this.actions ? h("th", { scope: "col" }, "") : null));
    this.rows.clear();
    this.order = "";
    this.tbody.replaceChildren();
  }
  /** entries: [{key, cells: [string], title?}] in display order. */
  update(entries, selectedKey) {
    const seen = new Set();
    const trs = [];
    for (const entry of entries) {
      seen.add(entry.key);
      const sig = entry.cells.join("\u0000") + (entry.key === selectedKey ? "\u0001" : "");
      let row = this.rows.get(entry.key);
      if (!row || row.sig !== sig) {
        const tr = h("tr", { tabindex: this.onSelect ? "0" : undefined, dataset: { key: entry.key },
          "aria-selected": entry.key === selectedKey ? "true" : undefined },
          entry.cells.map((c) => h("td", {}, c)),
          this.actions ? h("td.actions", {}, this.actions(entry)) : null);
        if (this.onSelect) {
          tr.addEventListener("click", (ev) => { if (!ev.target.closest("button,select,input")) this.onSelect(entry.key); });
          tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter" && ev.target === tr) this.onSelect(entry.key); });
        }
        if (row) row.tr.replaceWith(tr);
        row = { tr, sig };
        this.rows.set(entry.key, row);
      }
      trs.push(row.tr);
    }
    for (const key of [...this.rows.keys()]) {
      if (!seen.has(key)) { this.rows.get(key).tr.remove(); this.rows.delete(key); }
    }
    const order = entries.map((e) => e.key).join("\u0000");
    if (order !== this.order) { this.tbody.replaceChildren(...trs); this.order = order; }
    if (!entries.length && !this.tbody.firstChild) this.tbody.append(h("tr.empty", {}, h("td", { colSpan: 99 }, "No items")));
  }
}
