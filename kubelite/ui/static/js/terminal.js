// The pod pane's exec terminal: xterm.js (loaded when a terminal is first opened) over
// the gateway's pods/exec WebSocket, as kubectl exec -it speaks it.
//
// Protocol (k8s.io/apimachinery wsstream, "v5.channel.k8s.io"): every binary message
// starts with its channel — 0 stdin, 1 stdout, 2 stderr, 3 the final Status (JSON),
// 4 terminal size ({"Width": columns, "Height": rows}) — and v5 adds 255 to close a
// channel. A browser cannot set an Authorization header on a WebSocket, so a token goes
// as the extra subprotocol "base64url.bearer.authorization.k8s.io.<base64url token>"
// (kube-apiserver's form; the gateway never echoes it), never in the URL.

import { RETRY_AFTER_MS, describe, query, request, token } from "./api.js";
import { h, loadOnce, replace } from "./dom.js";

const XTERM_CSS = "vendor/xterm-6.0.0/xterm.css"; // relative to the page
const STDIN = 0, STDOUT = 1, STDERR = 2, ERROR = 3, RESIZE = 4;
const PROTOCOL = "v5.channel.k8s.io";
const BEARER_PREFIX = "base64url.bearer.authorization.k8s.io.";

/** The subprotocols to ask for: v5, plus the token when the page holds one. */
export function protocols(bearer) {
  if (!bearer) return [PROTOCOL];
  let binary = "";
  for (const b of new TextEncoder().encode(bearer)) binary += String.fromCharCode(b);
  const encoded = btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return [PROTOCOL, BEARER_PREFIX + encoded];
}

/** The exit status of channel 3's Status: 0 for Success, the ExitCode cause's number, or null (another failure). */
export function exitCode(status) {
  if (status.status === "Success") return 0;
  const cause = ((status.details && status.details.causes) || []).find((c) => c.reason === "ExitCode");
  return cause ? Number(cause.message) : null;
}

function frame(channel, payload) {
  const bytes = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
  const out = new Uint8Array(bytes.length + 1);
  out[0] = channel;
  out.set(bytes, 1);
  return out;
}

// Chromium fails loads in flight with ERR_NETWORK_CHANGED when the machine's network changes (a
// container starting), and remembers a failed module import: a retry asks for another URL.

async function withRetries(load) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await load(attempt ? `?attempt=${attempt}` : "");
    } catch (err) {
      if (attempt >= RETRY_AFTER_MS.length) throw err;
      await new Promise((resolve) => setTimeout(resolve, RETRY_AFTER_MS[attempt]));
    }
  }
}

async function xterm() {
  const [, { Terminal }, { FitAddon }] = await Promise.all([
    withRetries((q) => loadOnce("link", { rel: "stylesheet", href: XTERM_CSS + q })),
    withRetries((q) => import(`../vendor/xterm-6.0.0/xterm.mjs${q}`)),
    withRetries((q) => import(`../vendor/xterm-addon-fit-0.11.0/addon-fit.mjs${q}`))]);
  return { Terminal, FitAddon };
}

/** The terminal section of a pod pane: {el, stop}. stop() closes the socket and the terminal. */
export function terminalPane(pod, podPath) {
  const containers = pod.spec.containers.map((c) => c.name);
  const container = h("select", { "aria-label": "exec container" }, containers.map((c) => h("option", { value: c }, c)));
  const command = h("input", { type: "text", value: "sh", "aria-label": "command", size: 12 });
  const status = h("span.muted.exec-status", { role: "status", "aria-live": "polite" });
  const screen = h("div.exec-screen", { "aria-label": "terminal screen" });
  let session = null;

  const stop = () => {
    if (!session) return;
    const { socket, term, observer } = session;
    session = null;
    observer.disconnect();
    socket.onclose = null;
    if (socket.readyState <= WebSocket.OPEN) socket.close(1000);
    term.dispose();
  };

  const open = async () => {
    stop();
    replace(screen);
    status.textContent = "connecting…";
    delete status.dataset.exit;
    let Terminal, FitAddon;
    try {
      ({ Terminal, FitAddon } = await xterm());
    } catch (err) {
      status.textContent = `cannot load the terminal: ${err}`;
      return;
    }
    const term = new Terminal({ convertEol: false, cursorBlink: true, fontSize: 13, scrollback: 2000 });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(screen);
    fit.fit();
    const params = { container: container.value, stdin: "true", stdout: "true", tty: "true" };
    const words = command.value.trim().split(/\s+/).filter(Boolean);
    const q = new URLSearchParams();
    for (const w of words.length ? words : ["sh"]) q.append("command", w);
    const path = `${podPath}/exec${query(params)}&${q}`;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}${path}`, protocols(token()));
    socket.binaryType = "arraybuffer";
    const send = (channel, payload) => { if (socket.readyState === WebSocket.OPEN) socket.send(frame(channel, payload)); };
    const resize = () => {
      screen.dataset.size = `${term.rows} ${term.cols}`; // what `stty size` in the shell should say
      send(RESIZE, JSON.stringify({ Width: term.cols, Height: term.rows }));
    };
    const observer = new ResizeObserver(() => { try { fit.fit(); } catch { /* hidden */ } });
    observer.observe(screen);
    session = { socket, term, observer };
    let opened = false;
    let ended = false;
    term.onData((data) => send(STDIN, data));
    term.onResize(resize);
    socket.onopen = () => { opened = true; status.textContent = "connected"; resize(); term.focus(); };
    socket.onmessage = (ev) => {
      const data = new Uint8Array(ev.data);
      if (!data.length) return;
      const payload = data.subarray(1);
      if (data[0] === STDOUT || data[0] === STDERR) term.write(payload);
      else if (data[0] === ERROR) {
        ended = true;
        let s = {};
        try { s = JSON.parse(new TextDecoder().decode(payload)); } catch { /* not JSON */ }
        const code = exitCode(s);
        status.dataset.exit = code === null ? "error" : String(code);
        status.textContent = code === null ? `error: ${s.message || "unknown"}` : `exited with status ${code}`;
      }
    };
    socket.onclose = async (ev) => {
      if (opened) {
        if (!ended) status.textContent = `connection closed (${ev.code})`;
        return;
      }
      // a refused upgrade's body is not visible to a WebSocket: ask the same URL without the upgrade,
      // which the gateway answers with the Status it refused (e.g. the sim runtime's 400)
      const answer = await request("GET", path);
      status.textContent = answer.ok ? `could not connect (${ev.code})` : describe(answer);
      status.dataset.exit = "refused";
    };
  };

  const el = h("section", { "aria-label": "terminal" }, h("h3", {}, "Terminal"),
    h("div.toolbar", {}, h("label", {}, "Container ", container), h("label", {}, "Command ", command),
      h("button", { type: "button", onclick: () => open() }, "Open terminal"),
      h("button", { type: "button", onclick: () => { stop(); status.textContent = "closed"; } }, "Close terminal"), status),
    screen);
  return { el, stop };
}
