// What the gateway serves, from aggregated discovery (two requests): kinds to REST
// paths for the editor, and feature checks (metrics.k8s.io, pods/exec, CRDs) so views
// show what exists and say plainly what does not.

import { request } from "./api.js";

const AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList, application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

export class Discovery {
  constructor() {
    this.byKind = new Map(); // "group/Kind" and "Kind" -> {group, version, plural, namespaced, subresources}
    this.groups = new Set();
  }

  async load() {
    const [core, groups] = await Promise.all([
      request("GET", "/api", { accept: AGGREGATED }), request("GET", "/apis", { accept: AGGREGATED })]);
    for (const result of [core, groups]) {
      if (!result.ok || !result.json) continue;
      for (const group of result.json.items || []) {
        const name = (group.metadata && group.metadata.name) || "";
        this.groups.add(name);
        const version = (group.versions || [])[0];
        if (!version) continue;
        for (const r of version.resources || []) {
          const kind = r.responseKind && r.responseKind.kind;
          const entry = { group: name, version: version.version, plural: r.resource, kind,
            namespaced: r.scope === "Namespaced", subresources: (r.subresources || []).map((s) => s.subresource) };
          this.byKind.set(`${name}/${kind}`, entry);
          if (!this.byKind.has(kind) || name === "") this.byKind.set(kind, entry);
        }
      }
    }
    return this;
  }

  has(group) { return this.groups.has(group); }
  get metrics() { return this.has("metrics.k8s.io"); }
  get exec() { const pods = this.byKind.get("/Pod"); return !!pods && pods.subresources.includes("exec"); }
  get crds() { return this.byKind.has("apiextensions.k8s.io/CustomResourceDefinition"); }

  /** The resource of a manifest's apiVersion + kind, or undefined. */
  resource(apiVersion, kind) {
    const group = apiVersion && apiVersion.includes("/") ? apiVersion.split("/")[0] : "";
    return this.byKind.get(`${group}/${kind}`);
  }
}

/** The REST path of a resource: collection (no name) or object, optionally a subresource. */
export function pathOf(res, { namespace, name, subresource } = {}) {
  const base = res.group ? `/apis/${res.group}/${res.version}` : `/api/${res.version}`;
  const ns = res.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  let path = `${base}${ns}/${res.plural}`;
  if (name) path += `/${encodeURIComponent(name)}`;
  if (subresource) path += `/${subresource}`;
  return path;
}
