// Pods: kubectl's columns (the server's Table), a label filter, and a detail pane
// with containers, conditions, events, live logs and — when the gateway serves
// pods/exec — a terminal (js/terminal.js).

import * as actions from "../actions.js";
import { headers, lines, query, request } from "../api.js";
import { TimeChart } from "../charts.js";
import { bytes, cpuMillis } from "./overview.js";
import { confirmDelete, editLabels } from "../dialogs.js";
import { age, h, labelsText, replace } from "../dom.js";
import { informer } from "../informer.js";
import { liveTable } from "./table.js";
import { terminalPane } from "../terminal.js";

const podPath = (ns, name) => `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(name)}`;

function stateText(s) {
  if (!s) return "";
  if (s.running) return `running since ${s.running.startedAt || "?"}`;
  if (s.waiting) return `waiting: ${s.waiting.reason || ""} ${s.waiting.message || ""}`.trim();
  if (s.terminated) return `terminated: ${s.terminated.reason || ""} (exit ${s.terminated.exitCode})`;
  return "";
}

function logPane(pod) {
  const containers = pod.spec.containers.map((c) => c.name);
  const container = h("select", { "aria-label": "container" }, containers.map((c) => h("option", { value: c }, c)));
  const tail = h("input", { type: "number", min: 0, value: "100", "aria-label": "tail lines", size: 5 });
  const follow = h("input", { type: "checkbox", checked: true });
  const previous = h("input", { type: "checkbox" });
  const out = h("pre.logs", { tabindex: "0", "aria-label": "logs", "aria-live": "off" });
  const status = h("span.muted", { "aria-live": "polite" });
  let abort = null;
  const start = async (retries = 3) => {
    if (abort) abort.abort();
    abort = new AbortController();
    out.textContent = "";
    status.textContent = "loading…";
    const q = query({ container: container.value, tailLines: tail.value, follow: follow.checked ? "true" : "",
      previous: previous.checked ? "true" : "" });
    try {
      const resp = await fetch(`${podPath(pod.metadata.namespace, pod.metadata.name)}/log${q}`,
        { headers: headers({ Accept: "*/*" }), signal: abort.signal, cache: "no-store" });
      if (!resp.ok) {
        const text = await resp.text();
        let msg = text;
        try { msg = JSON.parse(text).message; } catch { /* plain text */ }
        status.textContent = `${resp.status}: ${msg}`;
        return;
      }
      status.textContent = follow.checked ? "following" : "";
      for await (const line of lines(resp)) {
        out.append(document.createTextNode(line + "\n"));
        if (out.childNodes.length > 5000) out.firstChild.remove();
        out.scrollTop = out.scrollHeight;
      }
      if (follow.checked) status.textContent = "stream ended";
    } catch (err) {
      if (err.name === "AbortError") return;
      status.textContent = String(err);
      // a network failure before any line (the browser drops requests when the network changes): try again
      if (retries > 0 && !out.firstChild) setTimeout(() => start(retries - 1), 500);
    }
  };
  const controls = h("div.toolbar", {}, h("label", {}, "Container ", container), h("label", {}, "Tail ", tail),
    h("label", {}, follow, " follow"), h("label", {}, previous, " previous"),
    h("button", { type: "button", onclick: () => start() }, "Show logs"), status);
  start();
  return { el: h("section", { "aria-label": "logs" }, h("h3", {}, "Logs"), controls, out), stop: () => abort && abort.abort() };
}

/** CPU and memory of a pod's containers over time, from metrics.k8s.io (read every 15 s: it has no watch). */
function podUsage(box, key) {
  const [ns, name] = key.split("/");
  const path = `/apis/metrics.k8s.io/v1beta1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(name)}`;
  const holder = h("section", { "aria-label": "usage" });
  box.append(holder);
  let charts = null;
  let timer = null;
  const load = async () => {
    const r = await request("GET", path);
    // a new pod has no metrics until its node's next stats cycle: ask again soon, then every 15 s
    timer = setTimeout(load, charts || r.ok ? 15000 : 3000);
    if (!r.ok) { if (!charts) replace(holder, h("p.muted", {}, `No usage yet (${r.status}).`)); return; }
    const containers = r.json.containers || [];
    if (!charts) {
      const names = containers.map((c) => c.name);
      charts = { cpu: new TimeChart("CPU (millicores)", names, { height: 120 }), memory: new TimeChart("Memory (MiB)", names, { height: 120 }) };
      replace(holder, h("h3", {}, "Usage"), charts.cpu.el, charts.memory.el);
    }
    charts.cpu.add(containers.map((c) => cpuMillis(c.usage.cpu)));
    charts.memory.add(containers.map((c) => bytes(c.usage.memory) / 2 ** 20));
  };
  load();
  return () => { clearTimeout(timer); if (charts) { charts.cpu.destroy(); charts.memory.destroy(); } };
}

function podDetail(ctx, box, key, inf) {
  const events = informer("/api/v1/events");
  const info = h("div");
  let logs = null;
  let terminal = null;
  const draw = () => {
    const entry = inf.items.get(key);
    if (!entry) { replace(info, h("p.muted", {}, `${key} is gone.`)); return; }
    const pod = entry.object;
    if (!logs) { logs = logPane(pod); box.append(logs.el); }
    if (!terminal && ctx.discovery.exec) {
      terminal = terminalPane(pod, podPath(pod.metadata.namespace, pod.metadata.name));
      box.append(terminal.el);
    }
    const statuses = new Map(((pod.status && pod.status.containerStatuses) || []).map((c) => [c.name, c]));
    const path = podPath(pod.metadata.namespace, pod.metadata.name);
    const mine = events.objects().filter((e) => e.involvedObject && e.involvedObject.uid === pod.metadata.uid)
      .sort((a, b) => (a.lastTimestamp || "").localeCompare(b.lastTimestamp || ""));
    replace(info,
      h("h2", {}, `Pod ${pod.metadata.namespace}/${pod.metadata.name}`),
      h("p", {}, `${(pod.status && pod.status.phase) || "Unknown"} on ${pod.spec.nodeName || "<unscheduled>"} · IP ${(pod.status && pod.status.podIP) || "<none>"}`),
      h("p.labels", {}, "Labels: ", labelsText(pod.metadata.labels) || "<none>"),
      h("div.toolbar", {},
        h("button", { type: "button", onclick: async () => {
          const next = await editLabels(`pod ${pod.metadata.name}`, pod.metadata.labels);
          if (next) await actions.setLabels(path, pod.metadata.labels, next);
        } }, "Labels"),
        h("button.danger", { type: "button", onclick: async () => {
          const policy = await confirmDelete(`pod ${pod.metadata.namespace}/${pod.metadata.name}`);
          if (policy) await actions.remove(path, policy);
        } }, "Delete")),
      h("h3", {}, "Containers"),
      h("ul.plain", {}, pod.spec.containers.map((c) => {
        const s = statuses.get(c.name) || {};
        return h("li", {}, h("strong", {}, c.name), ` ${c.image} · ${s.ready ? "ready" : "not ready"} · restarts ${s.restartCount || 0} · ${stateText(s.state)}`,
          s.lastState && Object.keys(s.lastState).length ? h("span.muted", {}, ` · last: ${stateText(s.lastState)}`) : null);
      })),
      h("h3", {}, "Conditions"),
      h("ul.plain", {}, ((pod.status && pod.status.conditions) || []).map((c) =>
        h("li", {}, `${c.type}: ${c.status}`, c.reason ? ` (${c.reason})` : ""))),
      h("h3", {}, "Events"),
      mine.length ? h("ul.plain", {}, mine.map((e) => h("li", {}, h("span.muted", {}, age(e.lastTimestamp || e.metadata.creationTimestamp), " "),
        `${e.type} ${e.reason}: ${e.message || ""}`))) : h("p.muted", {}, "No events."),
      ctx.discovery.exec ? null : h("h3", {}, "Terminal"),
      ctx.discovery.exec ? null : h("p.muted", {}, "Exec is not served by this gateway (no pods/exec in discovery)."));
  };
  replace(box, info);
  const subs = [inf.subscribe(draw), events.subscribe(draw)];
  draw();
  const stopUsage = ctx.discovery.metrics ? podUsage(box, key) : () => {};
  return () => { subs.forEach((u) => u()); if (logs) logs.stop(); if (terminal) terminal.stop(); stopUsage(); };
}

export function pods(main, ctx) {
  const detail = h("section.detail", { "aria-label": "pod details" });
  const selector = h("input", { type: "search", placeholder: "label selector, e.g. app=web", "aria-label": "label selector", id: "label-selector" });
  const holder = h("div.list");
  let table = null;
  let close = () => {};
  const mount = () => {
    if (table) table.destroy();
    table = liveTable(ctx, { path: "/api/v1/pods", title: "Pods", labelSelector: selector.value.trim(),
      onSelect: (key) => { close(); close = podDetail(ctx, detail, key, table.informer); } });
    replace(holder, table.el);
  };
  selector.addEventListener("change", mount);
  mount();
  main.append(h("h1", {}, "Pods"), h("div.toolbar", {}, h("label", {}, "Filter ", selector)), h("div.split", {}, holder, detail));
  return () => { close(); if (table) table.destroy(); };
}
