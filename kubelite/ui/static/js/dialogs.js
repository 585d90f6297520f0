// Modal dialogs (native <dialog>: focus trapping and Escape come with it).

import { h } from "./dom.js";

function modal(title, body, buttons) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { "aria-label": title });
    const form = h("form", { method: "dialog" }, h("h2", {}, title), body,
      h("div.buttons", {}, buttons.map(([label, value, cls]) => h(`button${cls ? "." + cls : ""}`, { value, type: "submit" }, label))));
    dialog.append(form);
    dialog.addEventListener("close", () => { dialog.remove(); resolve(dialog.returnValue); });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Delete confirmation with kubectl's cascade choices; resolves to a propagationPolicy or "". */
export async function confirmDelete(what) {
  const choice = h("fieldset", {}, h("legend", {}, "Dependents (cascade)"),
    [["Background", "delete dependents in the background (kubectl's default)"],
     ["Foreground", "delete dependents first"], ["Orphan", "keep dependents"]].map(([value, text], i) =>
      h("label", {}, h("input", { type: "radio", name: "cascade", value, checked: i === 0 }), ` ${value}: ${text}`)));
  const answer = await modal(`Delete ${what}?`, choice, [["Cancel", "cancel"], ["Delete", "delete", "danger"]]);
  if (answer !== "delete") return "";
  return choice.querySelector("input:checked").value;
}

/** Labels as "key=value" lines; resolves to an object or null when cancelled. */
export async function editLabels(what, labels) {
  const area = h("textarea", { rows: 6, cols: 40, "aria-label": "labels, one key=value a line" });
  area.value = Object.entries(labels || {}).map(([k, v]) => `${k}=${v}`).join("\n");
  const answer = await modal(`Labels of ${what}`, h("div", {}, h("p", {}, "One key=value a line."), area),
    [["Cancel", "cancel"], ["Save", "save"]]);
  if (answer !== "save") return null;
  const out = {};
  for (const line of area.value.split("\n")) {
    if (!line.trim()) continue;
    const eq = line.indexOf("=");
    out[(eq < 0 ? line : line.slice(0, eq)).trim()] = eq < 0 ? "" : line.slice(eq + 1).trim();
  }
  return out;
}

export async function askToken() {
  const input = h("input", { type: "password", autocomplete: "off", "aria-label": "bearer token", size: 40 });
  const answer = await modal("This gateway needs a token",
    h("div", {}, h("p", {}, "Paste a bearer token from the gateway's token file. It is kept for this browser tab only."), input),
    [["Cancel", "cancel"], ["Use token", "ok"]]);
  return answer === "ok" ? input.value.trim() : "";
}

/** A yes/no question; resolves true when confirmed. */
export async function confirmAction(title, text, yes) {
  return (await modal(title, h("p", {}, text), [["Cancel", "cancel"], [yes, "yes", "danger"]])) === "yes";
}
