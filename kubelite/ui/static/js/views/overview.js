// Overview: nodes and their Ready condition (usage bars when metrics.k8s.io is served),
// pods by phase now and over time since the page opened, recent Warning events.

import { request } from "../api.js";
import { age, h, replace } from "../dom.js";
import { informer } from "../informer.js";
import { TimeChart } from "../charts.js";

export const PHASES = ["Running", "Pending", "Succeeded", "Failed", "Unknown"];

// Sampled from the start of the page (the pods informer starts here), kept across views.
const samples = [];
function sample(pods) {
  const counts = Object.fromEntries(PHASES.map((p) => [p, 0]));
  for (const pod of pods.objects()) counts[(pod.status && pod.status.phase) || "Unknown"] = (counts[(pod.status && pod.status.phase) || "Unknown"] || 0) + 1;
  return counts;
}
let sampler = null;
export function startSampler() {
  if (sampler) return;
  const pods = informer("/api/v1/pods");
  pods.subscribe(() => {}); // kept for the page's life: the phase history starts when the page opens
  sampler = setInterval(() => { if (pods.synced) samples.push([Date.now() / 1000, sample(pods)]); if (samples.length > 3600) samples.shift(); }, 1000);
}

export function ready(node) {
  const c = ((node.status && node.status.conditions) || []).find((x) => x.type === "Ready");
  return c ? c.status === "True" : false;
}

function bar(label, used, total) {
  const pct = total > 0 ? Math.min(100, Math.round((100 * used) / total)) : 0;
  return h("div.bar", { role: "meter", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": pct, "aria-label": label },
    h("span.bar-label", {}, `${label} ${pct}%`), h("progress", { max: 100, value: pct }));
}

export function cpuMillis(q) {
  if (!q) return 0;
  if (q.endsWith("n")) return parseFloat(q) / 1e6;
  if (q.endsWith("u")) return parseFloat(q) / 1e3;
  if (q.endsWith("m")) return parseFloat(q);
  return parseFloat(q) * 1000;
}
export function bytes(q) {
  if (!q) return 0;
  const m = /^([0-9.]+)([KMGTE]i?)?$/.exec(q);
  if (!m) return parseFloat(q) || 0;
  const mult = { K: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 }[m[2]] || 1;
  return parseFloat(m[1]) * mult;
}

export function overview(main, ctx) {
  startSampler();
  const nodesBox = h("section.card", { "aria-labelledby": "ov-nodes" });
  const phaseBox = h("section.card", { "aria-labelledby": "ov-phases" });
  const warnBox = h("section.card.wide", { "aria-labelledby": "ov-warn" });
  const chart = new TimeChart("Pods by phase since this page opened", PHASES);
  const usageBox = h("section.card.wide", { hidden: !ctx.discovery.metrics });
  main.append(h("h1", {}, "Overview"), h("div.cards", {}, nodesBox, phaseBox, warnBox), h("section.card.wide", {}, chart.el), usageBox);
  for (const [t, counts] of samples) chart.add(PHASES.map((p) => counts[p]), t);
  const nodeInf = informer("/api/v1/nodes");
  const podInf = informer("/api/v1/pods");
  const evInf = informer("/api/v1/events");
  let usage = new Map();

  const drawNodes = () => {
    const nodes = nodeInf.objects().sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    const readyCount = nodes.filter(ready).length;
    replace(nodesBox, h("h2#ov-nodes", {}, `Nodes: ${readyCount}/${nodes.length} Ready`),
      h("ul.plain", {}, nodes.map((n) => {
        const cap = (n.status && (n.status.allocatable || n.status.capacity)) || {};
        const u = usage.get(n.metadata.name);
        return h("li", {}, h(`span.dot.${ready(n) ? "ok" : "bad"}`, { "aria-hidden": "true" }), ` ${n.metadata.name} `,
          h("span.muted", {}, ready(n) ? "Ready" : "NotReady", n.spec && n.spec.unschedulable ? ", SchedulingDisabled" : "",
            ` · ${cap.cpu || "?"} CPU · ${cap.memory || "?"} memory`),
          u ? [bar("CPU", cpuMillis(u.cpu), cpuMillis(cap.cpu)), bar("memory", bytes(u.memory), bytes(cap.memory))] : null);
      })),
      ctx.discovery.metrics ? null : h("p.muted", {}, "Usage bars appear when the gateway serves metrics.k8s.io."));
  };
  const drawPods = () => {
    const counts = sample(podInf);
    replace(phaseBox, h("h2#ov-phases", {}, `Pods: ${podInf.items.size}`),
      h("dl.phases", {}, PHASES.map((p) => [h("dt", {}, p), h("dd", { dataset: { phase: p } }, String(counts[p] || 0))])));
  };
  const drawWarnings = () => {
    const warnings = evInf.objects().filter((e) => e.type === "Warning")
      .sort((a, b) => (b.lastTimestamp || b.eventTime || "").localeCompare(a.lastTimestamp || a.eventTime || "")).slice(0, 10);
    replace(warnBox, h("h2#ov-warn", {}, "Recent Warning events"), warnings.length ? h("ul.plain", {}, warnings.map((e) =>
      h("li", {}, h("span.muted", {}, age(e.lastTimestamp || e.eventTime || e.metadata.creationTimestamp), " "),
        h("strong", {}, e.reason || ""), ` ${(e.involvedObject || {}).kind || ""}/${(e.involvedObject || {}).name || ""}: ${e.message || ""}`)))
      : h("p.muted", {}, "None."));
  };
  const subs = [nodeInf.subscribe(drawNodes), podInf.subscribe(drawPods), evInf.subscribe(drawWarnings)];
  const timer = setInterval(() => { const last = samples[samples.length - 1]; if (last) chart.add(PHASES.map((p) => last[1][p]), last[0]); }, 1000);
  let metricsTimer = null;
  let usageCharts = null;
  if (ctx.discovery.metrics) {
    // metrics.k8s.io has no watch (as in Kubernetes): read it every 15 s, its own resolution.
    const load = async () => {
      const r = await request("GET", "/apis/metrics.k8s.io/v1beta1/nodes");
      if (!r.ok) return;
      usage = new Map((r.json.items || []).map((m) => [m.metadata.name, m.usage]));
      drawNodes();
      const names = [...usage.keys()].sort();
      if (!usageCharts || usageCharts.names !== names.join()) {
        if (usageCharts) { usageCharts.cpu.destroy(); usageCharts.memory.destroy(); }
        usageCharts = { names: names.join(), cpu: new TimeChart("CPU per node (millicores)", names),
          memory: new TimeChart("Memory per node (MiB)", names) };
        usageBox.replaceChildren(usageCharts.cpu.el, usageCharts.memory.el);
      }
      usageCharts.cpu.add(names.map((n) => cpuMillis(usage.get(n).cpu)));
      usageCharts.memory.add(names.map((n) => bytes(usage.get(n).memory) / 2 ** 20));
    };
    load();
    metricsTimer = setInterval(load, 15000);
  }
  return () => {
    subs.forEach((u) => u()); clearInterval(timer); clearInterval(metricsTimer); chart.destroy();
    if (usageCharts) { usageCharts.cpu.destroy(); usageCharts.memory.destroy(); }
  };
}
