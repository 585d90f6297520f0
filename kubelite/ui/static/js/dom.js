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

/** A <script src> or <link href> added to <head> once; resolves when it has loaded. */
export function loadOnce(tag, attrs) {
  const selector = tag === "script" ? `script[src="${attrs.src}"]` : `link[href="${attrs.href}"]`;
  const found = document.querySelector(selector);
  if (found) return found.loaded;
  const el = h(tag, attrs);
  el.loaded = new Promise((resolve, reject) => { el.onload = resolve; el.onerror = reject; });
  document.head.append(el);
  return el.loaded;
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

/** Kubernetes' duration.HumanDuration of a timestamp's age ("45s", "5m30s", "3h", "2d4h"), the
 *  format the server's tables use (kubelite/util/humanize.py is the server's copy). */
export function age(timestamp, now = Date.now()) {
  if (!timestamp) return "<unknown>";
  const secs = Math.round((now - Date.parse(timestamp)) / 1000);
  if (Number.isNaN(secs)) return "<unknown>";
  if (secs < -1) return "<invalid>";
  if (secs < 0) return "0s";
  if (secs < 120) return `${secs}s`;
  const minutes = Math.floor(secs / 60);
  const with_ = (a, unitA, b, unitB) => (b ? `${a}${unitA}${b}${unitB}` : `${a}${unitA}`);
  if (minutes < 10) return with_(minutes, "m", secs % 60, "s");
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return with_(hours, "h", minutes % 60, "m");
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) return with_(days, "d", hours % 24, "h");
  if (hours < 24 * 365 * 2) return `${days}d`;
  if (hours < 24 * 365 * 8) return with_(Math.floor(days / 365), "y", days % 365, "d");
  return `${Math.floor(days / 365)}y`;
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
