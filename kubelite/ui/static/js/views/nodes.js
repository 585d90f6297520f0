// Nodes: the server's table, and a detail pane with taints, conditions, the pods on
// the node, and cordon / uncordon / drain.

import * as actions from "../actions.js";
import { confirmAction } from "../dialogs.js";
import { h, replace } from "../dom.js";
import { informer } from "../informer.js";
import { liveTable } from "./table.js";

export function nodes(main, ctx) {
  const detail = h("section.detail", { "aria-label": "node details" });
  const nodeInf = informer("/api/v1/nodes");
  const podInf = informer("/api/v1/pods");
  let key = null;
  const draw = () => {
    const entry = key && nodeInf.items.get(key);
    if (!entry) return;
    const node = entry.object;
    const name = node.metadata.name;
    const onNode = podInf.objects().filter((p) => p.spec.nodeName === name);
    replace(detail, h("h2", {}, `Node ${name}`),
      h("div.toolbar", {},
        node.spec.unschedulable ? h("button", { type: "button", onclick: () => actions.cordon(name, false) }, "Uncordon")
          : h("button", { type: "button", onclick: () => actions.cordon(name, true) }, "Cordon"),
        h("button.danger", { type: "button", onclick: async () => {
          if (await confirmAction(`Drain ${name}?`, `Cordon ${name} and evict its ${onNode.length} pod(s) (DaemonSet pods stay).`, "Drain")) {
            await actions.drain(name, onNode);
          }
        } }, "Drain")),
      h("h3", {}, "Taints"),
      (node.spec.taints || []).length ? h("ul.plain", {}, node.spec.taints.map((t) => h("li", {}, `${t.key}${t.value ? "=" + t.value : ""}:${t.effect}`)))
        : h("p.muted", {}, "No taints."),
      h("h3", {}, "Conditions"),
      h("ul.plain", {}, ((node.status && node.status.conditions) || []).map((c) => h("li", {}, `${c.type}: ${c.status}`, c.reason ? ` (${c.reason})` : ""))),
      h("h3", {}, `Pods (${onNode.length})`),
      h("ul.plain", {}, onNode.map((p) => h("li", {}, `${p.metadata.namespace}/${p.metadata.name} · ${(p.status && p.status.phase) || ""}`))));
  };
  const table = liveTable(ctx, { path: "/api/v1/nodes", title: "Nodes", namespaced: false, onSelect: (k) => { key = k; draw(); } });
  const subs = [nodeInf.subscribe(draw), podInf.subscribe(draw)];
  main.append(h("h1", {}, "Nodes"), h("div.split", {}, h("div.list", {}, table.el), detail));
  return () => { table.destroy(); subs.forEach((u) => u()); };
}
