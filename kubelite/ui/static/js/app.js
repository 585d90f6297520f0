// The dashboard's shell: navigation (hash routes), the namespace filter, the
// connection indicator and the token prompt. Each view mounts into <main> and
// returns an unmount function; views read shared informers (informer.js).

import { onUnauthorized, setToken } from "./api.js";
import { askToken } from "./dialogs.js";
import { Discovery } from "./discovery.js";
import { h, replace } from "./dom.js";
import { allInformers, informer, restartAll } from "./informer.js";
import { overview, startSampler } from "./views/overview.js";
import { workloads } from "./views/workloads.js";
import { pods } from "./views/pods.js";
import { services, config, events, customResources } from "./views/resources.js";
import { nodes } from "./views/nodes.js";
import { applyView } from "./views/apply.js";

const VIEWS = [
  ["overview", "Overview", overview], ["workloads", "Workloads", workloads], ["pods", "Pods", pods],
  ["services", "Services", services], ["config", "Config", config], ["nodes", "Nodes", nodes],
  ["events", "Events", events], ["custom", "Custom resources", customResources], ["apply", "Apply YAML", applyView],
];

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const nsSelect = document.getElementById("namespace");
const conn = document.getElementById("connection");
const ctx = { discovery: new Discovery(), namespace: () => nsSelect.value, onNamespace: new Set() };
let unmount = () => {};
let asking = null;

onUnauthorized(() => {
  if (asking) return;
  asking = askToken().then((value) => {
    asking = null;
    if (value) { setToken(value); restartAll(); ctx.discovery.load().then(route); }
  });
});

function route() {
  const name = (location.hash.replace(/^#\/?/, "") || "overview").split("/")[0];
  const view = VIEWS.find(([id]) => id === name) || VIEWS[0];
  for (const a of nav.querySelectorAll("a")) a.setAttribute("aria-current", a.dataset.view === view[0] ? "page" : "false");
  unmount();
  replace(main);
  document.title = `${view[1]} · kubelite`;
  unmount = view[2](main, ctx) || (() => {});
}

function connection() {
  const states = allInformers().map((i) => i.state);
  const broken = states.filter((s) => s === "reconnecting").length;
  const starting = states.filter((s) => s === "starting").length;
  conn.textContent = broken ? `reconnecting (${broken})` : starting ? "connecting" : "live";
  conn.className = broken ? "conn bad" : starting ? "conn" : "conn ok";
}

function namespaces(inf) {
  const current = nsSelect.value;
  const names = inf.objects().map((n) => n.metadata.name).sort();
  replace(nsSelect, h("option", { value: "" }, "all namespaces"), names.map((n) => h("option", { value: n }, n)));
  nsSelect.value = names.includes(current) ? current : "";
}

async function boot() {
  replace(nav, VIEWS.map(([id, label]) => h("a", { href: `#/${id}`, dataset: { view: id } }, label)));
  nsSelect.addEventListener("change", () => { for (const fn of ctx.onNamespace) fn(); });
  await ctx.discovery.load();
  informer("/api/v1/namespaces").subscribe(namespaces);
  startSampler();
  setInterval(connection, 250); // local state only: no API calls
  window.addEventListener("hashchange", route);
  route();
  document.documentElement.dataset.ready = "true";
}

boot();
