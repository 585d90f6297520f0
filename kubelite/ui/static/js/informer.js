// An informer in the browser: list, then watch from the list's resourceVersion
// (streaming JSON lines through fetch + ReadableStream). After a disconnect it resumes
// from the last resourceVersion it saw (bookmarks included); on 410 Gone (the
// revision was compacted) it lists again. No polling. Listeners are called at most
// once per animation frame, so a burst of events costs one render.
//
// With {table: true} it asks the server for meta.k8s.io Tables (the server's own
// printer, as kubectl shows) with the objects included, so views need no printers.

import { TABLE_ACCEPT, headers, lines, query, request } from "./api.js";

export const RENDER_EVERY = 200; // ms
// A watch silent for this long is taken for dead (a half-open connection sends nothing, not even
// an error) and resumed. The gateway sends a bookmark each minute on an idle watch. The
// sessionStorage knob lets a test (or a user on a flaky link) shorten it.
const SILENCE_MS = () => Number(sessionStorage.getItem("kubelite.watchSilenceMs")) || 150000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export const keyOf = (obj) => `${obj.metadata.namespace || ""}/${obj.metadata.name}`;

export class Informer {
  constructor(path, { table = true, labelSelector = "", fieldSelector = "" } = {}) {
    this.path = path;
    this.table = table;
    this.selectors = { labelSelector, fieldSelector };
    this.items = new Map(); // key -> {object, cells?}
    this.columns = [];
    this.rv = "";
    this.state = "starting"; // starting | live | reconnecting | stopped
    this.error = "";
    this.synced = false;
    this.events = 0; // watch events applied (benchmarks read it)
    this.listeners = new Set();
    this.frame = 0;
  }

  /** Call fn(informer) after changes (at most once a frame); returns the unsubscribe function.
   *  An informer nobody listens to stops after a grace period: a browser holds at most six
   *  HTTP/1.1 connections to one origin, and every open watch takes one. */
  subscribe(fn) {
    this.listeners.add(fn);
    clearTimeout(this.idle);
    this.start();
    if (this.synced) fn(this);
    return () => {
      this.listeners.delete(fn);
      if (!this.listeners.size) this.idle = setTimeout(() => { if (!this.listeners.size) this.reset(); }, 2000);
    };
  }

  reset() {
    this.stop();
    this.items = new Map();
    this.rv = "";
    this.synced = false;
    this.state = "stopped";
  }

  /** Listeners run in an animation frame, at most once per RENDER_EVERY ms: under a stream of
   *  events the page re-renders a few times a second (each render lays out whole tables), still
   *  well within a second of any change, and the main thread stays free for input. */
  notify() {
    if (this.frame) return;
    const run = () => { this.frame = 0; this.rendered = performance.now(); for (const fn of [...this.listeners]) fn(this); };
    const wait = Math.max(0, (this.rendered || 0) + RENDER_EVERY - performance.now());
    // requestAnimationFrame does not run in a hidden tab: a timer alone there.
    const frame = () => (document.hidden ? run() : requestAnimationFrame(run));
    this.frame = wait > 0 || document.hidden ? setTimeout(frame, Math.max(wait, document.hidden ? 100 : 0)) : requestAnimationFrame(run);
  }

  start() {
    if (this.running) return this;
    this.running = true;
    this.state = "starting";
    this.generation = (this.generation || 0) + 1;
    this.loop(this.generation);
    return this;
  }

  stop() {
    this.running = false;
    if (this.abort) this.abort.abort();
  }

  live(generation) { return this.running && this.generation === generation; }

  objects() { return [...this.items.values()].map((e) => e.object); }

  async loop(generation) {
    let backoff = 250;
    while (this.live(generation)) {
      try {
        if (!this.rv) await this.list();
        const outcome = await this.watch();
        if (outcome === "gone") this.rv = ""; // compacted: list again
        backoff = 250;
      } catch (err) {
        if (!this.live(generation)) return;
        this.error = err.message || String(err);
        this.state = "reconnecting";
        this.notify();
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  params(extra) {
    return query({ ...this.selectors, ...(this.table ? { includeObject: "Object" } : {}), ...extra });
  }

  async list() {
    const result = await request("GET", this.path + this.params(), { accept: this.table ? TABLE_ACCEPT : "application/json" });
    if (!result.ok) throw new Error(`list ${this.path}: ${result.status} ${(result.json && result.json.message) || ""}`);
    const items = new Map();
    if (this.table && result.json.kind === "Table") {
      this.columns = result.json.columnDefinitions || [];
      for (const row of result.json.rows || []) items.set(keyOf(row.object), { object: row.object, cells: row.cells });
    } else {
      for (const obj of result.json.items || []) items.set(keyOf(obj), { object: obj });
    }
    this.items = items;
    this.rv = result.json.metadata.resourceVersion;
    this.synced = true;
    this.notify();
  }

  async watch() {
    const abort = (this.abort = new AbortController());
    const timeoutSeconds = 240 + Math.floor(Math.random() * 60);
    const url = this.path + this.params({ watch: "1", resourceVersion: this.rv, allowWatchBookmarks: "true", timeoutSeconds });
    let heard = performance.now();
    const silence = SILENCE_MS();
    const watchdog = setInterval(() => { if (performance.now() - heard > silence) abort.abort(); }, Math.min(silence / 2, 10000));
    try {
      const response = await fetch(url, { headers: headers({ Accept: this.table ? TABLE_ACCEPT : "application/json" }),
        signal: abort.signal, cache: "no-store" });
      if (response.status === 410) return "gone";
      if (!response.ok) throw new Error(`watch ${this.path}: ${response.status}`);
      this.state = "live";
      this.error = "";
      this.notify();
      for await (const line of lines(response)) {
        heard = performance.now();
        if (this.handle(line) === "gone") return "gone";
      }
      return "ended"; // the server's timeout: resume from this.rv
    } catch (err) {
      if (abort.signal.aborted && this.running) throw new Error("the watch went silent: resuming");
      throw err;
    } finally {
      clearInterval(watchdog);
    }
  }

  /** One line of a watch stream; "gone" on a 410. */
  handle(line) {
    if (!line.trim()) return undefined;
    const event = JSON.parse(line);
    if (event.type === "ERROR") {
      if (event.object && event.object.code === 410) return "gone";
      throw new Error((event.object && event.object.message) || "watch error");
    }
    this.apply(event);
    return undefined;
  }

  apply(event) {
    let entry;
    if (this.table && event.object.kind === "Table") {
      if (event.object.columnDefinitions && event.object.columnDefinitions.length) this.columns = event.object.columnDefinitions;
      const row = (event.object.rows || [])[0];
      if (!row) return;
      entry = { object: row.object, cells: row.cells };
    } else {
      entry = { object: event.object };
    }
    const rv = entry.object.metadata && entry.object.metadata.resourceVersion;
    if (rv) this.rv = rv;
    if (event.type === "BOOKMARK") return;
    this.events += 1;
    if (event.type === "DELETED") this.items.delete(keyOf(entry.object));
    else this.items.set(keyOf(entry.object), entry);
    this.notify();
  }
}

/** One informer per (path, options) for the whole page: views share them. It runs while
 *  someone is subscribed (see subscribe). */
const shared = new Map();
export function informer(path, options = {}) {
  const full = { table: true, labelSelector: "", fieldSelector: "", ...options };
  const key = JSON.stringify([path, full.table, full.labelSelector, full.fieldSelector]);
  if (!shared.has(key)) shared.set(key, new Informer(path, full));
  return shared.get(key);
}
export function allInformers() { return [...shared.values()].filter((i) => i.running); }
export function restartAll() {
  for (const inf of allInformers()) { inf.reset(); inf.start(); }
}
