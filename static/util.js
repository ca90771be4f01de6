// Small helpers every dashboard module uses: DOM building, the API with
// the tab's token, and time formatting.

export const $ = (sel) => document.querySelector(sel);

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-") || k.startsWith("aria-")) e.setAttribute(k, v);
    else if (k === "text") e.textContent = v;
    else e[k] = v;
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

// A server started with --token wants it on every API call: open the
// dashboard once as /#token=<token>; it is kept for this tab only.
export const TOKEN = (() => {
  const fromUrl = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromUrl) {
    sessionStorage.setItem("hivelog-token", fromUrl);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem("hivelog-token");
})();

// The project this page shows: ?project=<name> ("*": every project, as an
// overview); none is the server's default project. Every API call names it.
export const PROJECT = (() => {
  const p = new URLSearchParams(location.search).get("project");
  return p && p !== "default" ? p : null;
})();
export const ALL = PROJECT === "*";

let onUnauthorized = () => {};
export const whenUnauthorized = (f) => { onUnauthorized = f; };

export async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (TOKEN) headers.Authorization = `Bearer ${TOKEN}`;
  if (PROJECT && !ALL) headers["X-Hivelog-Project"] = PROJECT;
  if (options.json !== undefined) {
    headers["content-type"] = "application/json";
    options = { ...options, method: options.method || "POST", body: JSON.stringify(options.json) };
  }
  const resp = await fetch(path, { ...options, headers });
  if (resp.status === 401) onUnauthorized();
  if (!resp.ok) {
    let detail = `${resp.status}`;
    try { const b = await resp.json(); detail = typeof b.detail === "string" ? b.detail : JSON.stringify(b.detail); } catch { /* not JSON */ }
    throw new Error(`${path}: ${detail}`);
  }
  return resp.status === 204 ? null : resp.json();
}

// Server timestamps are naive UTC ("2026-11-25T14:46:30.468599").
export const parseTs = (ts) => (ts ? Date.parse(/[zZ]|[+-]\d\d:\d\d$/.test(ts) ? ts : ts + "Z") : NaN);

export const ago = (ms) => {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.floor(s / 60)}m ago` : `${Math.floor(s / 3600)}h ago`;
};

// "4m 05s" until a moment (or "expired").
export function countdown(ts) {
  const left = Math.round((parseTs(ts) - Date.now()) / 1000);
  if (!(left > 0)) return "expired";
  const h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
  return h ? `${h}h ${String(m).padStart(2, "0")}m` : `${m}m ${String(s).padStart(2, "0")}s`;
}
