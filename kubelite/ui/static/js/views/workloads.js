// Workloads: Deployments (with scale, rollout restart/undo/pause/resume, labels,
// delete, revision history and a chart of old/new replicas), and the other
// controllers' server tables.

import * as actions from "../actions.js";
import { TimeChart } from "../charts.js";
import { confirmDelete, editLabels } from "../dialogs.js";
import { h, replace } from "../dom.js";
import { informer } from "../informer.js";
import { liveTable } from "./table.js";

const DEPLOYMENTS = "/apis/apps/v1/deployments";
const objPath = (plural, obj, group = "apps/v1") =>
  `/apis/${group}/namespaces/${encodeURIComponent(obj.metadata.namespace)}/${plural}/${encodeURIComponent(obj.metadata.name)}`;

export function revisionOf(obj) {
  return parseInt(((obj.metadata.annotations || {})["deployment.kubernetes.io/revision"]) || "0", 10);
}
export function ownedBy(obj, owner) {
  return (obj.metadata.ownerReferences || []).some((r) => r.uid === owner.metadata.uid && r.controller);
}

function commonActions(plural, obj, { group = "apps/v1", kind } = {}) {
  const path = objPath(plural, obj, group);
  return [
    h("button", { type: "button", onclick: async () => {
      const next = await editLabels(`${kind} ${obj.metadata.name}`, obj.metadata.labels);
      if (next) await actions.setLabels(path, obj.metadata.labels, next);
    } }, "Labels"),
    h("button.danger", { type: "button", onclick: async () => {
      const policy = await confirmDelete(`${kind} ${obj.metadata.namespace}/${obj.metadata.name}`);
      if (policy) await actions.remove(path, policy);
    } }, "Delete"),
  ];
}

function deploymentDetail(ctx, box, key) {
  const deps = informer(DEPLOYMENTS);
  const rss = informer("/apis/apps/v1/replicasets");
  const chart = new TimeChart("Rollout: replicas of the new and old ReplicaSets", ["new", "old"], { height: 150 });
  let last = null;
  let dep = null; // the Deployment as last drawn: what the buttons act on
  let owned = [];
  // The toolbar's inputs and buttons live across redraws, above everything a watch event changes: a
  // redraw must neither wipe what the user is typing nor replace or move a button under the pointer.
  const replicas = h("input", { type: "number", min: 0, "aria-label": "replicas", id: "scale-input" });
  const choose = h("select", { "aria-label": "revision to roll back to", id: "undo-revision" });
  const path = () => objPath("deployments", dep);
  const pauseButton = h("button", { type: "button", onclick: () => actions.pause(path(), !dep.spec.paused) }, "Pause");
  const undoButton = h("button", { type: "button", id: "undo-button", onclick: () => {
    const rev = parseInt(choose.value, 10);
    const rs = owned.find((r) => revisionOf(r) === rev);
    if (rs) actions.undo(path(), dep, rs, rev);
  } }, "Roll back");
  const noEarlier = h("span.muted", {}, "no earlier revision");
  const undoBox = h("span");
  const common = h("span");
  const title = h("h2");
  const toolbar = h("div.toolbar", {},
    h("label", {}, "Replicas ", replicas),
    h("button", { type: "button", id: "scale-button", onclick: () => actions.scale(path(), parseInt(replicas.value, 10)) }, "Scale"),
    h("button", { type: "button", onclick: () => actions.restart(path()) }, "Restart"),
    pauseButton, undoBox, common);
  const state = h("div");
  const history = h("div");
  const body = h("div", {}, title, toolbar, state, history);
  replace(box, body, chart.el);
  const draw = () => {
    const entry = deps.items.get(key);
    if (!entry) { replace(box, h("p.muted", {}, `${key} is gone.`)); return; }
    if (!box.contains(body)) replace(box, body, chart.el); // created again under the same name
    dep = entry.object;
    owned = rss.objects().filter((rs) => ownedBy(rs, dep)).sort((a, b) => revisionOf(a) - revisionOf(b));
    const current = revisionOf(dep);
    const newRs = owned.find((rs) => revisionOf(rs) === current);
    const oldReplicas = owned.filter((rs) => rs !== newRs).reduce((n, rs) => n + ((rs.status && rs.status.replicas) || 0), 0);
    last = [(newRs && newRs.status && newRs.status.replicas) || 0, oldReplicas];
    const st = dep.status || {};
    if (!replicas.value) replicas.value = String(dep.spec.replicas ?? 1);
    const chosen = choose.value;
    replace(choose, owned.filter((rs) => revisionOf(rs) !== current).map((rs) => h("option", { value: String(revisionOf(rs)) },
      `revision ${revisionOf(rs)}`)));
    if ([...choose.options].some((o) => o.value === chosen)) choose.value = chosen;
    title.textContent = `Deployment ${dep.metadata.namespace}/${dep.metadata.name}`;
    pauseButton.textContent = dep.spec.paused ? "Resume" : "Pause";
    if (owned.length > 1) {
      if (!undoBox.contains(undoButton)) replace(undoBox, choose, undoButton);
    } else if (!undoBox.contains(noEarlier)) {
      replace(undoBox, noEarlier);
    }
    replace(common, commonActions("deployments", dep, { kind: "Deployment" }));
    replace(state,
      h("p", {}, `Ready ${st.readyReplicas || 0}/${dep.spec.replicas ?? 1} · up-to-date ${st.updatedReplicas || 0} · available ${st.availableReplicas || 0} · revision ${current}`,
        dep.spec.paused ? " · paused" : ""),
      h("label.bar", {}, "Rollout ", h("progress", { max: Math.max(1, dep.spec.replicas ?? 1),
        value: Math.min(st.updatedReplicas || 0, dep.spec.replicas ?? 1), id: "rollout-progress" }),
        ` ${st.updatedReplicas || 0}/${dep.spec.replicas ?? 1} updated`),
      ((st.conditions || []).find((c) => c.type === "Progressing") || {}).message
        ? h("p.muted", {}, (st.conditions || []).find((c) => c.type === "Progressing").message) : null);
    replace(history,
      h("h3", {}, "Revision history"),
      h("table", {}, h("thead", {}, h("tr", {}, ["Revision", "ReplicaSet", "Replicas", "Image(s)", "Change cause"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, owned.map((rs) => h("tr", { "aria-current": revisionOf(rs) === current ? "true" : undefined },
          h("td", {}, String(revisionOf(rs))), h("td", {}, rs.metadata.name),
          h("td", {}, `${(rs.status && rs.status.readyReplicas) || 0}/${rs.spec.replicas ?? 0}`),
          h("td", {}, rs.spec.template.spec.containers.map((c) => c.image).join(", ")),
          h("td", {}, (rs.metadata.annotations || {})["kubernetes.io/change-cause"] || "<none>"))))));
  };
  const subs = [deps.subscribe(draw), rss.subscribe(draw)];
  draw();
  if (last) chart.add(last);
  const timer = setInterval(() => { if (last) chart.add(last); }, 1000);
  return () => { subs.forEach((u) => u()); clearInterval(timer); chart.destroy(); };
}

export function workloads(main, ctx) {
  const detail = h("section.detail", { "aria-label": "details" });
  let closeDetail = () => {};
  const deployments = liveTable(ctx, { path: DEPLOYMENTS, title: "Deployments", onSelect: (key) => {
    closeDetail();
    closeDetail = deploymentDetail(ctx, detail, key);
  } });
  // One other kind at a time: each live table holds a watch (one of the browser's six connections).
  const kinds = [["replicasets", "ReplicaSets", "apps/v1"], ["statefulsets", "StatefulSets", "apps/v1"],
    ["daemonsets", "DaemonSets", "apps/v1"], ["jobs", "Jobs", "batch/v1"], ["cronjobs", "CronJobs", "batch/v1"]];
  const pick = h("div.tabs", { role: "tablist", "aria-label": "other workloads" });
  const holder = h("div");
  let other = null;
  const show = (index) => {
    if (other) other.destroy();
    const [plural, title, gv] = kinds[index];
    other = liveTable(ctx, { path: `/apis/${gv}/${plural}`, title,
      actions: (entry) => commonActions(plural, entry.object, { group: gv, kind: title.slice(0, -1) }) });
    replace(holder, other.el);
    for (const [i, b] of [...pick.children].entries()) b.setAttribute("aria-selected", String(i === index));
  };
  kinds.forEach(([, title], i) => pick.append(h("button", { type: "button", role: "tab", onclick: () => show(i) }, title)));
  show(0);
  main.append(h("h1", {}, "Workloads"), h("div.split", {}, h("div.list", {}, deployments.el, pick, holder), detail));
  return () => { closeDetail(); deployments.destroy(); if (other) other.destroy(); };
}
