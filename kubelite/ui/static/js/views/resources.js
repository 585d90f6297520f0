// Services with their endpoints, ConfigMaps and Secrets (values hidden until an
// explicit reveal), the live Events stream with filters, and custom resources.

import { h, replace } from "../dom.js";
import { informer } from "../informer.js";
import { liveTable } from "./table.js";

function detailPane(label) { return h("section.detail", { "aria-label": label }); }

export function services(main, ctx) {
  const detail = detailPane("endpoints");
  const endpoints = informer("/api/v1/endpoints");
  let key = null;
  const draw = () => {
    if (!key) return;
    const ep = endpoints.items.get(key);
    const subsets = (ep && ep.object.subsets) || [];
    replace(detail, h("h2", {}, `Endpoints of ${key}`), subsets.length ? h("ul.plain", {}, subsets.map((s) => h("li", {},
      `ready: ${(s.addresses || []).map((a) => a.ip + (a.targetRef ? ` (${a.targetRef.name})` : "")).join(", ") || "<none>"}`,
      (s.notReadyAddresses || []).length ? ` · not ready: ${s.notReadyAddresses.map((a) => a.ip).join(", ")}` : "",
      ` · ports: ${(s.ports || []).map((p) => `${p.name ? p.name + ":" : ""}${p.port}/${p.protocol || "TCP"}`).join(", ")}`)))
      : h("p.muted", {}, "No endpoints."));
  };
  const table = liveTable(ctx, { path: "/api/v1/services", title: "Services", onSelect: (k) => { key = k; draw(); } });
  const unsub = endpoints.subscribe(draw);
  main.append(h("h1", {}, "Services"), h("div.split", {}, h("div.list", {}, table.el), detail));
  return () => { table.destroy(); unsub(); };
}

function b64decode(value) {
  try {
    const bytes = Uint8Array.from(atob(value), (c) => c.charCodeAt(0));
    return new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  } catch { return "<not base64>"; }
}

function dataList(obj, secret) {
  const data = { ...(obj.data || {}), ...(secret ? {} : obj.binaryData || {}) };
  const keys = Object.keys(data).sort();
  if (!keys.length) return h("p.muted", {}, "No data.");
  return h("dl.data", {}, keys.map((k) => {
    const value = h("dd", {}, secret ? "••••••" : data[k]);
    return [h("dt", {}, k, secret ? [" ", h("button", { type: "button", "aria-label": `reveal ${k}`, onclick: (ev) => {
      value.textContent = b64decode(data[k]);
      ev.target.remove();
    } }, "Reveal")] : null), value];
  }));
}

export function config(main, ctx) {
  const detail = detailPane("data");
  const show = (inf, secret) => (key) => {
    const entry = inf.items.get(key);
    if (entry) replace(detail, h("h2", {}, `${secret ? "Secret" : "ConfigMap"} ${key}`), dataList(entry.object, secret));
  };
  const cms = liveTable(ctx, { path: "/api/v1/configmaps", title: "ConfigMaps", onSelect: (k) => show(cms.informer, false)(k) });
  const secrets = liveTable(ctx, { path: "/api/v1/secrets", title: "Secrets (values hidden until revealed)", onSelect: (k) => show(secrets.informer, true)(k) });
  main.append(h("h1", {}, "Config"), h("div.split", {}, h("div.list", {}, cms.el, secrets.el), detail));
  return () => { cms.destroy(); secrets.destroy(); };
}

export function events(main, ctx) {
  const type = h("select", { "aria-label": "event type" }, ["", "Normal", "Warning"].map((t) => h("option", { value: t }, t || "all types")));
  const text = h("input", { type: "search", placeholder: "reason, object or message", "aria-label": "text filter" });
  const table = liveTable(ctx, { path: "/api/v1/events", title: "Events", filter: (e) => {
    if (type.value && e.type !== type.value) return false;
    const q = text.value.trim().toLowerCase();
    if (!q) return true;
    const io = e.involvedObject || {};
    return [e.reason, e.message, io.kind, io.name].some((s) => (s || "").toLowerCase().includes(q));
  } });
  type.addEventListener("change", table.redraw);
  text.addEventListener("input", table.redraw);
  main.append(h("h1", {}, "Events"), h("div.toolbar", {}, h("label", {}, "Type ", type), h("label", {}, "Filter ", text)), table.el);
  return () => table.destroy();
}

export function customResources(main, ctx) {
  main.append(h("h1", {}, "Custom resources"));
  if (!ctx.discovery.crds) {
    main.append(h("p.muted", {}, "This gateway serves no CustomResourceDefinitions API (apiextensions.k8s.io is not in discovery)."));
    return () => {};
  }
  const holder = h("div");
  const crds = informer("/apis/apiextensions.k8s.io/v1/customresourcedefinitions");
  let shown = null;
  const pick = h("select", { "aria-label": "custom resource" });
  const draw = () => {
    const chosen = pick.value;
    replace(pick, h("option", { value: "" }, "choose a kind"), crds.objects().map((crd) => {
      const version = (crd.spec.versions || []).find((v) => v.served) || {};
      return h("option", { value: `/apis/${crd.spec.group}/${version.name}/${crd.spec.names.plural}` }, `${crd.spec.names.kind} (${crd.spec.group})`);
    }));
    pick.value = chosen;
  };
  pick.addEventListener("change", () => {
    if (shown) shown.destroy();
    shown = pick.value ? liveTable(ctx, { path: pick.value, title: pick.selectedOptions[0].textContent }) : null;
    replace(holder, shown ? shown.el : null);
  });
  const unsub = crds.subscribe(draw);
  main.append(h("div.toolbar", {}, pick), holder);
  return () => { unsub(); if (shown) shown.destroy(); };
}
