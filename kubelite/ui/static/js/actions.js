// Everyday writes, each an ordinary API call whose response is shown in the
// response log. Views never update themselves from an action's answer: what they
// show comes from the watch, so a failed action cannot leave the page lying.

import { describe, request } from "./api.js";
import { h } from "./dom.js";

const MERGE = "application/merge-patch+json";
const JSON_PATCH = "application/json-patch+json";
const HASH_LABEL = "pod-template-hash";
// Annotations that stay with the Deployment on a rollback (kubectl's annotationsToSkip;
// kubelite's home for them is kubelite/api/rollout_annotations.py NOT_COPIED).
const NOT_COPIED = new Set(["kubectl.kubernetes.io/last-applied-configuration", "deployment.kubernetes.io/revision",
  "deployment.kubernetes.io/revision-history", "deployment.kubernetes.io/desired-replicas",
  "deployment.kubernetes.io/max-replicas", "deployment.kubernetes.io/rollback-to"]);

/** Show an action's outcome in the response log; returns the result. */
export function report(label, result) {
  const log = document.getElementById("responses");
  const ok = result.ok;
  const entry = h(`li.${ok ? "ok" : "fail"}`, { role: ok ? undefined : "alert" },
    h("strong", {}, label), " → ", describe(result));
  const causes = (result.json && result.json.details && result.json.details.causes) || [];
  if (causes.length) entry.append(h("ul", {}, causes.map((c) => h("li", {}, `${c.field || ""}: ${c.message || c.reason}`))));
  log.prepend(entry);
  while (log.children.length > 8) log.lastChild.remove();
  return result;
}

export async function act(label, method, path, options) {
  return report(label, await request(method, path, options));
}

export const scale = (path, replicas) =>
  act(`scale ${path.split("/").slice(-1)[0]} to ${replicas}`, "PATCH", `${path}/scale`,
    { body: { spec: { replicas } }, contentType: MERGE });

/** kubectl rollout restart: stamp the pod template (kubectl.kubernetes.io/restartedAt, RFC 3339). */
export const restart = (path) =>
  act("rollout restart", "PATCH", path, { contentType: MERGE, body: { spec: { template: { metadata: { annotations: {
    "kubectl.kubernetes.io/restartedAt": new Date().toISOString().replace(/\.\d+Z$/, "Z") } } } } } });

export const pause = (path, paused) =>
  act(paused ? "rollout pause" : "rollout resume", "PATCH", path, { body: { spec: { paused } }, contentType: MERGE });

function sorted(value) {
  if (Array.isArray(value)) return value.map(sorted);
  if (value && typeof value === "object") return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sorted(value[k])]));
  return value;
}

export function templateWithoutHash(template) {
  const copy = JSON.parse(JSON.stringify(template || {}));
  if (copy.metadata && copy.metadata.labels) delete copy.metadata.labels[HASH_LABEL];
  return copy;
}

/** kubectl rollout undo --to-revision: the ReplicaSet's template (hash label removed) replaces the
 *  Deployment's, and the ReplicaSet's annotations (but the rollout ones) are copied back. */
export async function undo(path, deployment, rs, revision) {
  const template = templateWithoutHash(rs.spec.template);
  if (JSON.stringify(sorted(template)) === JSON.stringify(sorted(templateWithoutHash(deployment.spec.template)))) {
    return report(`rollout undo to ${revision}`, { ok: true, status: 200, json: null,
      text: `skipped rollback (current template already matches revision ${revision})` });
  }
  const annotations = {};
  for (const [k, v] of Object.entries(deployment.metadata.annotations || {})) if (NOT_COPIED.has(k)) annotations[k] = v;
  for (const [k, v] of Object.entries(rs.metadata.annotations || {})) if (!NOT_COPIED.has(k)) annotations[k] = v;
  return act(`rollout undo to revision ${revision}`, "PATCH", path, { contentType: JSON_PATCH, body: [
    { op: "replace", path: "/spec/template", value: template },
    { op: "add", path: "/metadata/annotations", value: annotations }] });
}

export const remove = (path, propagationPolicy) =>
  act(`delete ${path.split("/").slice(-1)[0]} (${propagationPolicy})`, "DELETE", path,
    { body: { kind: "DeleteOptions", apiVersion: "v1", propagationPolicy } });

/** Replace an object's labels: removed keys are sent as null (merge patch). */
export function setLabels(path, old, next) {
  const labels = { ...next };
  for (const key of Object.keys(old || {})) if (!(key in next)) labels[key] = null;
  return act(`edit labels of ${path.split("/").slice(-1)[0]}`, "PATCH", path, { body: { metadata: { labels } }, contentType: MERGE });
}

export const cordon = (name, unschedulable) =>
  act(`${unschedulable ? "cordon" : "uncordon"} ${name}`, "PATCH", `/api/v1/nodes/${encodeURIComponent(name)}`,
    { body: { spec: { unschedulable: unschedulable || null } }, contentType: MERGE });

/** kubectl drain: cordon, then evict every pod on the node except DaemonSet and mirror pods. */
export async function drain(name, pods) {
  const first = await cordon(name, true);
  if (!first.ok) return first;
  for (const pod of pods) {
    const owners = pod.metadata.ownerReferences || [];
    if (owners.some((o) => o.kind === "DaemonSet")) continue;
    const path = `/api/v1/namespaces/${encodeURIComponent(pod.metadata.namespace)}/pods/${encodeURIComponent(pod.metadata.name)}/eviction`;
    await act(`evict ${pod.metadata.name}`, "POST", path, { body: { apiVersion: "policy/v1", kind: "Eviction",
      metadata: { name: pod.metadata.name, namespace: pod.metadata.namespace } } });
  }
  return first;
}
