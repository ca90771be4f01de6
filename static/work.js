// The coordination side of the dashboard: the pause switch, board filters,
// file reservations (and tasks waiting on them), slots, the task detail
// view, retrying tasks that need a human, and answering approval requests.

import { $, el, api, parseTs, ago, countdown, ALL } from "./util.js";

// ---- pause ------------------------------------------------------------------

let paused = false;

let machine = null;

// In the overview of every project the button is the machine's switch.
export function setPause(p) {
  if (ALL) p = machine;
  paused = !!(p && p.paused);
  const all = machine && machine.paused;
  const btn = $("#pause-btn");
  const what = ALL ? " in every project" : "";
  btn.textContent = (paused ? "Resume grants" : "Pause grants") + what;
  btn.setAttribute("aria-pressed", String(paused));
  document.body.dataset.paused = String(paused || !!all);
  $("#pause-state").textContent = all
    ? `every project is paused${machine.reason ? ": " + machine.reason : ""} (hivelog resume --all)`
    : paused
      ? `paused${p.by ? " by " + p.by : ""}${p.reason ? ": " + p.reason : ""} — no task is granted`
      : "";
}

export async function loadPause() {
  const [own, all] = await Promise.all([api("/api/v2/pause"), api("/api/v2/pause/machine")]);
  machine = all;
  setPause(own);
}

// ---- filters ----------------------------------------------------------------

export const filters = { q: "", owner: "", priority: "", capability: "", column: "" };

// The board's query for the current filters ("" when none).
export function filterQuery() {
  const p = new URLSearchParams();
  for (const k of ["q", "owner", "priority", "capability"]) if (filters[k]) p.set(k, filters[k]);
  const s = p.toString();
  return s ? `&${s}` : "";
}

// The same test the server applies, for live task versions.
export function matches(t) {
  const q = filters.q.toLowerCase();
  return (!q || [t.task_id, t.title, t.description].some((s) => String(s || "").toLowerCase().includes(q))) &&
    (!filters.owner || t.owner === filters.owner) &&
    (!filters.priority || t.priority === filters.priority) &&
    (!filters.capability || (t.capabilities || []).includes(filters.capability));
}

export function initControls(onFilter) {
  $("#pause-btn").addEventListener("click", async () => {
    try {
      const route = ALL ? "/api/v2/pause/machine" : "/api/v2/pause";
      const now = await api(route, { json: { paused: !paused, by: "dashboard" } });
      if (ALL) machine = now;
      setPause(now);
    } catch (e) { alert(e.message); }
  });
  let timer = null;
  $("#filters").addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      for (const k of Object.keys(filters)) filters[k] = $(`#f-${k}`).value.trim();
      for (const col of document.querySelectorAll("#board .column")) {
        col.hidden = !!filters.column && col.dataset.status !== filters.column;
      }
      onFilter();
    }, 200);
  });
  $("#filters").addEventListener("submit", (ev) => ev.preventDefault());
}

// ---- reservations and slots ---------------------------------------------------

export async function loadReservations() {
  const { reservations, waiting } = await api("/api/v2/reservations");
  $("#reservations tbody").replaceChildren(...reservations.map((r) => el("tr", { "data-reservation": r.glob },
    el("td", {}, el("code", { text: r.glob })),
    el("td", { text: r.agent_id }),
    el("td", {}, el("span", { class: r.exclusive ? "badge warn" : "badge", text: r.exclusive ? "exclusive" : "shared" })),
    el("td", { text: r.task_id || "" }),
    el("td", { text: r.task_id ? "with its claim" : countdown(r.expires_at) }))));
  $("#reservations-empty").hidden = reservations.length > 0;
  $("#waiting").replaceChildren(...waiting.map((w) => el("li", { "data-waiting": w.task_id },
    el("strong", { text: w.task_id }),
    ` waits: ${w.conflicts.map((c) => `${c.example_path} held by ${c.holder} (${c.held_glob})`).join("; ")}`)));
}

export async function loadSlots() {
  const { slots } = await api("/api/v2/slots");
  $("#slots").replaceChildren(...slots.map((s) => {
    const used = s.holders.length;
    return el("li", { "data-slot": s.name, class: used >= s.permits ? "full" : "" },
      el("strong", { text: s.name }), ` ${used}/${s.permits} in use`,
      el("span", { class: "muted", text: used ? ` · ${s.holders.map((h) => h.agent_id).join(", ")}` : "" }));
  }));
  $("#slots-empty").hidden = slots.length > 0;
}

// Many state changes arrive at once (a claim with files, a burst of
// acquires); refresh at most a few times a second.
const pending = new Map();
export function refreshSoon(name, load) {
  if (pending.has(name)) return;
  pending.set(name, setTimeout(() => {
    pending.delete(name);
    load().catch((e) => console.warn(e));
  }, 250));
}

// ---- tasks that need a human ----------------------------------------------------

export async function retryTask(id) {
  try {
    await api(`/api/v2/tasks/${encodeURIComponent(id)}/retry`, { json: {} });
  } catch (e) { alert(e.message); }
}

// ---- task detail ------------------------------------------------------------------

function field(label, value) {
  if (value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length)) return null;
  return el("div", { class: "field" }, el("dt", { text: label }), el("dd", {}, value instanceof Node ? value : String(value)));
}

export async function showDetail(id) {
  const panel = $("#detail");
  panel.dataset.task = id;
  try {
    const h = await api(`/api/tasks/${encodeURIComponent(id)}/history`);
    const versions = h.versions;
    const t = versions.length ? versions[versions.length - 1].task : await api(`/api/tasks/${encodeURIComponent(id)}`);
    const notes = versions.filter((v) => v.task.progress && v.task.progress.note)
      .map((v) => `${v.task.progress.at.slice(0, 19)} ${v.task.owner || ""}: ${v.task.progress.note}${v.task.progress.percent != null ? ` (${v.task.progress.percent}%)` : ""}`);
    const handoffs = [];
    for (const v of versions) {
      const ho = v.task.handoff;
      if (ho && !handoffs.some((x) => x.at === ho.at)) handoffs.push(ho);
    }
    const result = t.result ? el("pre", { text: JSON.stringify(t.result, null, 2) }) : null;
    const retry = ["needs_human", "failed"].includes(t.status)
      ? el("button", { type: "button", class: "retry", text: "Retry", onclick: () => retryTask(id) }) : null;
    panel.replaceChildren(
      el("h3", { text: `${t.task_id} · ${t.title || ""}` }),
      el("dl", { class: "fields" },
        field("Status", t.status + (t.cancelled ? " (cancelled)" : "")),
        field("Owner", t.owner),
        field("Priority", t.priority),
        field("Attempts", `${t.attempts} of ${t.max_attempts}`),
        field("Fencing token", t.fencing_token || null),
        field("Lease", t.status === "claimed" && t.lease_expires_at ? countdown(t.lease_expires_at) : null),
        field("Not before", t.not_before && parseTs(t.not_before) > Date.now() ? `${t.not_before} (in ${countdown(t.not_before)})` : null),
        field("Files", (t.files || []).join(", ")),
        field("Needs", (t.capabilities || []).join(", ")),
        field("Depends on", (t.depends_on || []).join(", ")),
        field("Description", t.description ? el("div", { class: "prewrap", text: t.description }) : null),
        field("Result", result),
        field("Error", t.error),
        field("Last release", t.release_reason)),
      retry,
      handoffs.length ? el("h4", { text: "Handoff notes" }) : null,
      handoffs.length ? el("ol", { class: "notes" }, ...handoffs.map((ho) => el("li", { class: "prewrap", text: `${ho.at.slice(0, 19)} ${ho.by}: ${ho.note}` }))) : null,
      notes.length ? el("h4", { text: "Progress notes" }) : null,
      notes.length ? el("ol", { class: "notes" }, ...notes.map((n) => el("li", { class: "prewrap", text: n }))) : null,
      el("h4", { text: `History (${versions.length} versions)` }),
      el("ol", { class: "timeline" }, ...versions.map((v) => el("li", {
        text: `#${v.sequence} ${v.task.updated_at.slice(0, 19)} ${v.task.status}${v.task.owner ? " · " + v.task.owner : ""}${v.task.fencing_token ? " · token " + v.task.fencing_token : ""}${v.task.release_reason ? " · " + v.task.release_reason : ""}${v.task.error ? " · " + v.task.error : ""}`,
      }))));
  } catch (e) {
    panel.replaceChildren(el("p", { class: "muted", text: String(e.message || e) }));
  }
}

// ---- approvals ----------------------------------------------------------------------

export function approvalControls(agent) {
  const note = el("input", { class: "approval-note", placeholder: "note (optional)", "aria-label": `note for ${agent.agent_id}` });
  const answer = (approved) => async () => {
    note.blur();
    try {
      await api(`/api/v2/agents/${encodeURIComponent(agent.agent_id)}/approval`,
        { json: { approved, note: note.value.trim() || null, by: "dashboard" } });
    } catch (e) { alert(e.message); }
  };
  return el("div", { class: "approval-answer" }, note,
    el("button", { type: "button", class: "approve", text: "Approve", onclick: answer(true) }),
    el("button", { type: "button", class: "deny", text: "Deny", onclick: answer(false) }));
}

export { ago };
