// Same-origin Kubernetes API calls. The bearer token (only when the gateway asks
// for one: a 401) lives in sessionStorage for this tab's session and is sent in the
// Authorization header — never in a URL.

const TOKEN_KEY = "kubelite.token";
export const TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io, application/json";
let unauthorized = () => {};

export const token = () => sessionStorage.getItem(TOKEN_KEY) || "";
export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}
export function onUnauthorized(fn) { unauthorized = fn; }

export function headers(extra = {}) {
  const out = { ...extra };
  if (token()) out.Authorization = `Bearer ${token()}`;
  return out;
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

// Requests that may be sent twice with the same outcome: after a network failure (the browser
// fails requests in flight with ERR_NETWORK_CHANGED whenever the machine's network configuration
// changes, e.g. a container starting) they are retried, after 0.25, 0.5 and 1 s. A POST (create,
// eviction) or a DELETE is not: a second one is another request, or answers 404 for a success.
const IDEMPOTENT = new Set(["GET", "PUT", "PATCH"]);
export const RETRY_AFTER_MS = [250, 500, 1000];

/** One API call: {status, ok, json, text}. Network failures come back as status 0. */
export async function request(method, path, { body, contentType = "application/json", accept = "application/json", signal } = {}) {
  const sentWith = token();
  const init = { method, headers: headers({ Accept: accept }), signal, cache: "no-store" };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    init.headers["Content-Type"] = contentType;
  }
  let resp;
  for (let attempt = 0; ; attempt += 1) {
    try {
      resp = await fetch(path, init);
      break;
    } catch (err) {
      if (err.name === "AbortError") throw err;
      if (attempt < RETRY_AFTER_MS.length && IDEMPOTENT.has(method)) {
        await new Promise((resolve) => setTimeout(resolve, RETRY_AFTER_MS[attempt]));
        continue;
      }
      return { status: 0, ok: false, json: null, text: String(err) };
    }
  }
  const text = await resp.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON: keep the text */ }
  if (resp.status === 401) {
    // Sent before the user gave a token (several requests are in flight when the first 401 asks for
    // one): a 401 is no action taken, so send it again with that token rather than ask again.
    if (token() && token() !== sentWith) return request(method, path, { body, contentType, accept, signal });
    unauthorized();
  }
  return { status: resp.status, ok: resp.ok, json, text };
}

/** The lines of a streaming response body (watch events, followed logs). */
export async function* lines(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        yield line;
      }
    }
    if (buffer) yield buffer;
  } finally {
    reader.releaseLock();
  }
}

/** A Status or any failed response as one line: "422 Invalid: ...". */
export function describe(result) {
  if (result.status === 0) return `network error: ${result.text}`;
  const s = result.json;
  if (s && s.kind === "Status") return `${result.status} ${s.reason || s.status}: ${s.message || ""}`.trim();
  if (s && s.metadata) return `${result.status} OK: ${s.kind || "object"} ${s.metadata.name || ""} (resourceVersion ${s.metadata.resourceVersion || "?"})`;
  return `${result.status} ${result.text.slice(0, 200)}`;
}
