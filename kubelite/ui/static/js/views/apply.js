// Apply YAML: a CodeMirror editor (YAML highlighting), then for each document a
// server-side apply (PATCH, application/apply-patch+yaml, fieldManager=kubelite-ui)
// as a dry run first (?dryRun=All); only when every document passes is it applied
// for real. A 422's causes are shown in a list and at their lines in the editor.

import { report } from "../actions.js";
import { request, query } from "../api.js";
import { pathOf } from "../discovery.js";
import { h, loadOnce, replace } from "../dom.js";
import { loadAll } from "../../vendor/js-yaml-5.5.0/js-yaml.mjs";

const EXAMPLE = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: kubelite/demo:latest
`;

let draft = EXAMPLE; // kept while the page lives
const CODEMIRROR = "vendor/codemirror-5.65.21/";

/** CodeMirror 5 (a classic script, ~400 kB) is loaded when the editor is first opened, not with the page. */
async function codemirror() {
  loadOnce("link", { rel: "stylesheet", href: CODEMIRROR + "codemirror.css" });
  await loadOnce("script", { src: CODEMIRROR + "codemirror.js" });
  await loadOnce("script", { src: CODEMIRROR + "mode/yaml/yaml.js" });
  return window.CodeMirror;
}

/** The 0-based line of a field path ("spec.template.spec.containers[0].image") in one YAML document. */
export function lineOf(text, field, firstLine = 0) {
  const all = text.split("\n");
  let at = firstLine;
  for (const raw of (field || "").split(".")) {
    const name = raw.replace(/\[.*\]$/, "");
    if (!name) continue;
    const re = new RegExp(`^\\s*(-\\s+)?["']?${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}["']?\\s*:`);
    const found = all.findIndex((line, i) => i >= at && re.test(line));
    if (found < 0) break;
    at = found;
  }
  return at;
}

export function applyView(main, ctx) {
  const area = h("textarea", { id: "yaml-editor", "aria-label": "YAML manifest" });
  area.value = draft;
  const force = h("input", { type: "checkbox", id: "apply-force" });
  const results = h("div.apply-results", { "aria-live": "polite", id: "apply-results" });
  const dry = h("button", { type: "button", id: "dry-run-button" }, "Dry run");
  const apply = h("button.primary", { type: "button", id: "apply-button" }, "Apply");
  main.append(h("h1", {}, "Apply YAML"),
    h("p.muted", {}, "Server-side apply as field manager kubelite-ui; a server-side dry run always runs first."),
    area, h("div.toolbar", {}, dry, apply, h("label", {}, force, " force conflicts")), results);
  let editor = null;
  let closed = false;
  const ready = codemirror().then((CodeMirror) => {
    if (closed) return;
    editor = setUp(CodeMirror);
    window.kubeliteEditor = editor; // tests and power users set the text through CodeMirror's API
  });
  const setUp = (CodeMirror) => CodeMirror.fromTextArea(area, { mode: "yaml", lineNumbers: true, indentUnit: 2, tabSize: 2,
    extraKeys: { Tab: (cm) => cm.replaceSelection("  "), "Ctrl-Enter": () => run(false), Esc: (cm) => cm.getInputField().blur() } });
  const widgets = [];
  const clearMarks = () => {
    while (widgets.length) widgets.pop().clear();
    editor.eachLine((line) => editor.removeLineClass(line, "background", "error-line"));
  };

  const documents = (text) => {
    const starts = [0];
    text.split("\n").forEach((line, i) => { if (/^---\s*$/.test(line)) starts.push(i + 1); });
    return loadAll(text).map((doc, i) => ({ doc, firstLine: starts[i] || 0 })).filter(({ doc }) => doc && typeof doc === "object");
  };

  const send = async ({ doc }, dryRun) => {
    const res = ctx.discovery.resource(doc.apiVersion, doc.kind);
    if (!res) return { status: 404, ok: false, json: { kind: "Status", reason: "NotFound",
      message: `the server does not serve ${doc.kind} in ${doc.apiVersion}` }, text: "" };
    const namespace = res.namespaced ? ((doc.metadata && doc.metadata.namespace) || ctx.namespace() || "default") : undefined;
    const name = doc.metadata && doc.metadata.name;
    const path = pathOf(res, { namespace, name: name || "<missing name>" }) +
      query({ fieldManager: "kubelite-ui", dryRun: dryRun ? "All" : "", force: force.checked ? "true" : "" });
    return request("PATCH", path, { body: JSON.stringify(doc), contentType: "application/apply-patch+yaml" });
  };

  const run = async (really) => {
    if (!editor) await ready;
    delete results.dataset.done;
    try { await runOnce(really); } finally { results.dataset.done = "true"; } // tests wait for it
  };

  const runOnce = async (really) => {
    draft = editor.getValue();
    clearMarks();
    replace(results);
    let docs;
    try {
      docs = documents(draft);
    } catch (err) {
      const line = err.mark ? err.mark.line : 0;
      mark(line, `YAML: ${err.reason || err.message}`);
      replace(results, h("p.fail", { role: "alert" }, `Not YAML: ${err.message}`));
      return;
    }
    if (!docs.length) { replace(results, h("p.fail", { role: "alert" }, "No document to apply.")); return; }
    let allOk = true;
    for (const d of docs) {
      const r = await send(d, true);
      const what = `${d.doc.kind || "?"} ${(d.doc.metadata && d.doc.metadata.name) || "?"}`;
      report(`dry run ${what}`, r);
      show(d, r, `dry run ${what}`);
      allOk = allOk && r.ok;
    }
    if (!really || !allOk) {
      if (really) results.append(h("p.fail", {}, "Nothing applied: the dry run failed."));
      return;
    }
    for (const d of docs) {
      const what = `${d.doc.kind} ${d.doc.metadata.name}`;
      const r = report(`apply ${what}`, await send(d, false));
      show(d, r, `apply ${what}`);
    }
  };

  const mark = (line, message) => {
    editor.addLineClass(line, "background", "error-line");
    widgets.push(editor.addLineWidget(line, h("div.line-error", { role: "alert" }, message)));
  };

  const show = (d, r, label) => {
    const s = r.json || {};
    const causes = (s.details && s.details.causes) || [];
    results.append(h(`div.${r.ok ? "ok" : "fail"}`, {}, h("strong", {}, `${label}: `),
      r.ok ? `${r.status} OK (resourceVersion ${(s.metadata && s.metadata.resourceVersion) || "-"})` : `${r.status} ${s.reason || ""}: ${s.message || r.text}`,
      causes.length ? h("ul", {}, causes.map((c) => h("li.cause", { dataset: { field: c.field || "" } }, h("code", {}, c.field || "(object)"), `: ${c.message || c.reason}`))) : null));
    for (const c of causes) mark(lineOf(draft, c.field, d.firstLine), `${c.field}: ${c.message || c.reason}`);
  };

  dry.addEventListener("click", () => run(false));
  apply.addEventListener("click", () => run(true));
  return () => {
    closed = true;
    if (editor) { draft = editor.getValue(); editor.toTextArea(); }
    delete window.kubeliteEditor;
  };
}
