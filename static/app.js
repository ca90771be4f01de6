// hivelog dashboard: loads the current state over HTTP, then follows it
// live over /ws. No framework, no build step, no request leaves the server.

import { $, el, api, parseTs, ago, countdown, TOKEN, PROJECT, ALL, whenUnauthorized } from "./util.js";
import {
  setPause, loadPause, filterQuery, matches, initControls, loadReservations, loadSlots,
  refreshSoon, retryTask, showDetail, approvalControls,
} from "./work.js";

const state = {
  prefix: "mjwork", root: "hivelog.state", staleAfter: 90, deadAfter: 120, projects: [],
  agents: new Map(), selected: null, timeline: [], counts: null,
  columns: Object.fromEntries(["available", "blocked", "claimed", "completed", "failed", "needs_human"]
    .map((c) => [c, { tasks: [], next: null }])),
  tail: "mjwork.>", ws: null, retry: 0,
};

whenUnauthorized(() => setConn("reconnecting", "this server needs a token: open /#token=<token>"));

// Pasting /#token=… into an open tab only changes the fragment; load again
// so the token is picked up.
window.addEventListener("hashchange", () => {
  if (new URLSearchParams(location.hash.slice(1)).get("token")) location.reload();
});

// ---- projects ---------------------------------------------------------------

// Each project is one repository's tasks, agents, files and messages. The
// header switches between them (the page loads again with ?project=) and
// shows each one's counts; "all projects" is an overview of them.
function projectHref(name) {
  return name === "*" ? "?project=*" : name === "default" ? location.pathname : `?project=${encodeURIComponent(name)}`;
}

function renderProjects() {
  const current = ALL ? "*" : PROJECT || "default";
  const select = $("#project");
  const options = [el("option", { value: "*", text: "all projects" }),
    ...state.projects.map((p) => el("option", { value: p.name, text: p.name }))];
  if (!state.projects.some((p) => p.name === current) && current !== "*") {
    options.push(el("option", { value: current, text: current }));
  }
  select.replaceChildren(...options);
  select.value = current;
  $("#project-counts").replaceChildren(...state.projects.map((p) => el("a", {
    href: projectHref(p.name), "data-project": p.name, "data-paused": String(p.paused),
    title: `${p.name}: ${p.tasks.claimable} available, ${p.tasks.claimed} claimed, ${p.agents} agents${p.paused ? " (paused)" : ""}`,
    "aria-current": p.name === current ? "page" : "false",
    text: `${p.name} ${p.tasks.claimable}·${p.tasks.claimed}`,
  })));
  if (ALL) {
    $("#projects tbody").replaceChildren(...state.projects.map((p) => el("tr", { "data-project": p.name },
      el("td", {}, el("a", { href: projectHref(p.name), text: p.name })),
      el("td", { text: p.repository || "" }), el("td", { text: p.agents }),
      el("td", { text: p.tasks.claimable }), el("td", { text: p.tasks.claimed }),
      el("td", { text: p.tasks.needs_human }), el("td", { text: p.tasks.completed }),
      el("td", { text: p.tasks.failed }), el("td", { text: p.paused ? "paused" : "" }))));
    const n = state.projects.reduce((a, p) => a + p.tasks.total, 0);
    $("#summary").textContent = `${state.projects.length} projects · ${n} tasks`;
  }
}

async function loadProjects() {
  const list = await api("/api/v2/projects");
  state.projects = list.projects;
  const here = list.projects.find((p) => p.name === (PROJECT || "default"));
  if (here) { state.prefix = here.subject_prefix; state.root = here.state_subjects; }
  else if (PROJECT && !ALL) {
    // Nothing written to it yet: its subjects are where its first records
    // will go, never the default project's.
    const base = list.projects[0] ? list.projects[0].subject_prefix : "mjwork";
    state.prefix = `${base}.p.${PROJECT}`;
    state.root = `hivelog.state.p.${PROJECT}`;
  }
  renderProjects();
  return list;
}

$("#project").addEventListener("change", (ev) => { location.href = projectHref(ev.target.value); });
document.body.dataset.all = String(ALL);
$("#projects-section").hidden = !ALL;

// ---- agents ---------------------------------------------------------------

// By when the server last heard from the agent (its own clock), as the
// server judges it; last_heartbeat is the client's time and may be skewed.
const seen = (agent) => parseTs(agent.last_seen || agent.last_heartbeat || agent.registered_at);

function health(agent) {
  const age = (Date.now() - seen(agent)) / 1000;
  return age <= state.staleAfter ? "active" : age <= state.deadAfter ? "stale" : "dead";
}

// What an agent last reported is shown as current only while it is alive;
// a dead agent's "busy" or approval request is history.
function agentCard(a) {
  const h = health(a);
  const alive = h !== "dead";
  const status = a.status || "active";
  return el("article", { class: "card", "data-agent": a.agent_id, "data-health": h },
    el("header", {},
      el("span", { class: "name", text: a.agent_id }),
      el("span", { class: `badge health-${h}`, text: h }),
      alive ? el("span", { class: "badge", text: status }) : null),
    a.current_task && alive ? el("div", { class: "medallion", title: "current task",
      text: a.current_task_title ? `${a.current_task} · ${a.current_task_title}` : a.current_task }) : null,
    a.needs_approval && alive ? el("div", { class: "approval", role: "alert",
      text: `⚑ needs approval${a.approval_message ? ": " + a.approval_message : ""}` }) : null,
    a.needs_approval && alive ? approvalControls(a) : null,
    !alive && (a.current_task || a.needs_approval || status === "busy") ? el("div", { class: "was",
      text: `last reported ${status}${a.current_task ? " on " + a.current_task : ""}${a.needs_approval ? ", asking for approval" : ""}` }) : null,
    el("div", { class: "muted", text: a.last_heartbeat ? `last heard ${ago(Date.now() - seen(a))}` : "registered, no heartbeat yet" }),
    a.description ? el("div", { class: "muted", text: a.description }) : null,
    el("div", { class: "caps" }, ...(a.capabilities || []).map((c) => el("span", { class: "badge", text: c }))));
}

function renderAgents() {
  const agents = [...state.agents.values()].sort((a, b) => a.agent_id.localeCompare(b.agent_id));
  const alive = agents.filter((a) => health(a) !== "dead");
  const dead = agents.filter((a) => health(a) === "dead");
  const box = $("#agents");
  // Keep a half-typed approval note across the once-a-second redraw.
  const typing = document.activeElement;
  if (box.contains(typing) && typing.matches("input") && typing.value) return;
  box.replaceChildren(...alive.map(agentCard));
  if (!alive.length) box.append(el("p", { class: "muted empty", text: dead.length ? "No live agents." : "No agents yet." }));
  const details = $("#dead-agents");
  details.hidden = !dead.length;
  details.querySelector("summary").textContent = `${dead.length} dead agent${dead.length === 1 ? "" : "s"}`;
  $("#dead-list").replaceChildren(...dead.map(agentCard));
  summary();
}

$("#clear-stale").addEventListener("click", async () => {
  const keep = [...state.agents.values()].filter((a) => health(a) !== "dead").map((a) => a.agent_id);
  try {
    const r = await api("/api/agents/cleanup", { json: { keep_agents: keep } });
    for (const id of r.removed || []) state.agents.delete(id);
    renderAgents();
  } catch (e) { alert(e.message); }
});

function upsertAgent(agent) {
  if (agent && agent.agent_id) state.agents.set(agent.agent_id, agent);
  renderAgents();
}

// ---- tasks ----------------------------------------------------------------
// The board holds pages, not every task: each column loads PAGE tasks from
// /api/v2/tasks and more on request; the counts come from the server, so
// they are right with 100,000 tasks. A live task version moves its card if
// the card's column (or its place in a loaded page) is on screen.

const PAGE = 50;
const COLUMNS = ["available", "blocked", "claimed", "completed", "failed", "needs_human"];
const RANK = { high: 0, medium: 1, low: 2 };

function column(task) {
  if (task.status === "available" && (task.blocked_by || []).length) return "blocked";
  return task.status;
}

// The server's order: available in claim order, the rest newest first.
function before(col, a, b) {
  if (col === "available") {
    return (RANK[a.priority] - RANK[b.priority]) || (parseTs(a.created_at) - parseTs(b.created_at)) ||
      (a.task_id < b.task_id ? -1 : 1);
  }
  return (parseTs(b.created_at) - parseTs(a.created_at)) || (a.task_id < b.task_id ? 1 : -1);
}

function taskCard(t) {
  const meta = [t.owner ? `@${t.owner}` : null, t.priority, t.attempts ? `attempts ${t.attempts}` : null,
    t.status === "claimed" && t.fencing_token ? `token ${t.fencing_token}` : null].filter(Boolean).join(" · ");
  const waiting = t.status === "available" && t.not_before && parseTs(t.not_before) > Date.now();
  const b = el("button", { class: `task prio-${t.priority}`, "data-task": t.task_id, type: "button" },
    el("div", { text: t.title ? `${t.task_id} · ${t.title}` : t.task_id }),
    el("div", { class: "meta", text: meta }),
    t.status === "claimed" && t.lease_expires_at
      ? el("div", { class: "lease", "data-until": t.lease_expires_at, text: `lease ${countdown(t.lease_expires_at)}` }) : null,
    waiting ? el("div", { class: "lease", "data-until": t.not_before, "data-prefix": "retry in", text: `retry in ${countdown(t.not_before)}` }) : null,
    (t.files || []).length ? el("div", { class: "files", text: `files ${t.files.join(", ")}` }) : null,
    (t.blocked_by || []).length ? el("div", { class: "meta", text: `blocked by ${t.blocked_by.join(", ")}` }) : null);
  b.addEventListener("click", () => { state.selected = t.task_id; showDetail(t.task_id); });
  const li = el("li", {}, b);
  if (t.status === "needs_human") {
    li.append(el("button", { type: "button", class: "retry", "data-retry": t.task_id, text: "Retry", onclick: () => retryTask(t.task_id) }));
  }
  return li;
}

// Lease and backoff countdowns tick every second.
setInterval(() => {
  for (const e of document.querySelectorAll(".task .lease[data-until]")) {
    const left = countdown(e.dataset.until);
    e.textContent = `${e.dataset.prefix || "lease"} ${left}`;
    e.dataset.expired = String(left === "expired");
  }
}, 1000);

function renderColumn(col) {
  const c = state.columns[col];
  const box = document.querySelector(`#board .column[data-status='${col}']`);
  const list = box.querySelector("ol");
  list.replaceChildren(...c.tasks.map(taskCard));
  const total = filterQuery() ? c.total : state.counts ? state.counts[col === "available" ? "claimable" : col] : c.tasks.length;
  box.querySelector(".count").textContent = total ?? "";
  const more = box.querySelector(".more");
  const left = Math.max(0, (total ?? 0) - c.tasks.length);
  more.hidden = !c.next;
  more.textContent = `Show ${Math.min(PAGE, left) || PAGE} more (${left} not shown)`;
}

async function loadColumn(col, append) {
  const c = state.columns[col];
  const after = append && c.next ? `&after=${encodeURIComponent(c.next)}` : "";
  const page = await api(`/api/v2/tasks?column=${col}&limit=${PAGE}${after}${filterQuery()}`);
  c.total = page.total;
  c.tasks = append ? c.tasks.concat(page.tasks) : page.tasks;
  c.next = page.next;
  renderColumn(col);
}

function upsertTask(task, live) {
  if (!task || !task.task_id) return;
  // Out of every column it was in, into the one it belongs to when its
  // place is among the cards loaded (or the column is loaded to its end).
  for (const col of COLUMNS) {
    const c = state.columns[col];
    const i = c.tasks.findIndex((t) => t.task_id === task.task_id);
    if (i >= 0) { c.tasks.splice(i, 1); renderColumn(col); }
  }
  if (!matches(task)) return timelineEntry(task, live);
  const col = column(task), c = state.columns[col];
  let at = c.tasks.findIndex((t) => before(col, task, t) < 0);
  if (at < 0 && !c.next) at = c.tasks.length;
  if (at >= 0) { c.tasks.splice(at, 0, task); renderColumn(col); }
  timelineEntry(task, live);
}

function eventText(task) {
  const at = new Date(parseTs(task.updated_at)).toLocaleTimeString();
  return `${at} ${task.task_id} → ${task.status}${task.owner ? " (" + task.owner + ")" : ""}`;
}

function timelineEntry(task, live) {
  if (!live) return;
  state.timeline.unshift(eventText(task));
  state.timeline.length = Math.min(state.timeline.length, 40);
  $("#timeline").replaceChildren(...state.timeline.map((t) => el("li", { text: t })));
  if (state.selected === task.task_id) showDetail(task.task_id);
  refreshCounts();
}

// Counts follow task events (at most a few times a second) and the
// server's $SYS.metrics report.
let countsTimer = null;
function refreshCounts() {
  if (countsTimer) return;
  countsTimer = setTimeout(async () => {
    countsTimer = null;
    try { setCounts(await api("/api/v2/tasks/counts")); } catch { /* next event retries */ }
  }, 250);
}

function setCounts(counts) {
  if (!counts) return;
  state.counts = counts;
  for (const col of COLUMNS) renderColumn(col);
  summary();
}

for (const col of COLUMNS) {
  document.querySelector(`#board .column[data-status='${col}'] .more`)
    .addEventListener("click", () => loadColumn(col, true).catch((e) => console.warn(e)));
}

// ---- messages -------------------------------------------------------------

function withMentions(text) {
  const frag = document.createDocumentFragment();
  for (const part of String(text).split(/(@[\w.-]+)/)) {
    frag.append(part.startsWith("@") ? el("span", { class: "mention", text: part }) : document.createTextNode(part));
  }
  return frag;
}

// A live frame on a channel as a message; anything else published there
// (raw text, other JSON) shows as its content, as the page's load does.
function asMessage(f) {
  const d = f.data;
  if (d && typeof d === "object" && "content" in d) return d;
  return { agent_id: null, content: d ?? f.text ?? "", sequence: f.seq, timestamp: null };
}

function addMessage(channel, m) {
  const list = $(`#msgs-${channel}`);
  if (!list || !m) return;
  const content = typeof m.content === "string" ? m.content : JSON.stringify(m.content);
  list.append(el("li", { "data-message": m.sequence ?? "" },
    el("strong", { text: `${m.agent_id ?? "?"} ` }),
    el("span", { class: "muted", text: `${(m.timestamp || "").slice(11, 19)} ` }),
    el("span", { class: "content" }, withMentions(content))));
  while (list.children.length > 200) list.firstChild.remove();
  list.parentElement.scrollTop = list.parentElement.scrollHeight;
}

$("#msg-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const input = $("#msg-text");
  const content = input.value.trim();
  if (!content) return;
  await api("/api/v2/messages", { json: { agent_id: "operator", channel: $("#msg-channel").value, content } });
  input.value = "";
});

// ---- streams and live tail ---------------------------------------------------

async function loadStreams() {
  try {
    const { streams } = await api("/api/streams");
    $("#streams tbody").replaceChildren(...streams.map((s) => el("tr", { "data-stream": s.config.name },
      el("td", { text: s.config.name }), el("td", { text: s.config.subjects.join(" ") }),
      el("td", { text: s.state.messages }), el("td", { text: s.state.bytes }),
      el("td", { text: s.state.first_seq }), el("td", { text: s.state.last_seq }),
      el("td", { text: s.state.consumer_count }))));
  } catch { /* shown as stale until the next refresh */ }
}

function subscribeTail() {
  send({ op: "unsub", sid: "tail" });
  send({ op: "sub", sid: "tail", subject: state.tail });
  $("#tail").replaceChildren();
}

$("#tail-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  state.tail = $("#tail-subject").value.trim() || ">";
  subscribeTail();
});

function addTail(f) {
  const body = f.data !== undefined ? JSON.stringify(f.data) : f.text ?? `(${(f.data_b64 || "").length} base64 chars)`;
  $("#tail").prepend(el("li", { text: `${f.subject}${f.seq ? " #" + f.seq : ""} ${body.slice(0, 300)}` }));
  while ($("#tail").children.length > 50) $("#tail").lastChild.remove();
}

// ---- system charts ----------------------------------------------------------

const series = { cpu: [], rss: [], in: [], out: [], conns: [] };

function draw(id, lines) {
  const c = $(id), g = c.getContext("2d");
  const styles = getComputedStyle(document.documentElement);
  const colors = [styles.getPropertyValue("--accent"), styles.getPropertyValue("--warn")];
  g.clearRect(0, 0, c.width, c.height);
  const max = Math.max(1, ...lines.flat());
  lines.forEach((pts, i) => {
    g.strokeStyle = colors[i % colors.length].trim() || "#2b6cb0";
    g.lineWidth = 2;
    g.beginPath();
    pts.forEach((v, x) => {
      const px = (x / 59) * (c.width - 2) + 1, py = c.height - 2 - (v / max) * (c.height - 4);
      x ? g.lineTo(px, py) : g.moveTo(px, py);
    });
    g.stroke();
  });
}

function metrics(m) {
  const push = (arr, v) => { arr.push(v); if (arr.length > 60) arr.shift(); };
  push(series.cpu, m.cpu_percent); push(series.rss, m.rss_bytes / 1048576);
  push(series.in, m.msgs_in_per_sec); push(series.out, m.msgs_out_per_sec); push(series.conns, m.ws_connections);
  $("#v-cpu").textContent = `${m.cpu_percent}%`;
  $("#v-rss").textContent = `${(m.rss_bytes / 1048576).toFixed(1)} MiB`;
  $("#v-msgs").textContent = `${m.msgs_in_per_sec} · ${m.msgs_out_per_sec}`;
  $("#v-conns").textContent = m.ws_connections;
  draw("#c-cpu", [series.cpu]); draw("#c-rss", [series.rss]);
  draw("#c-msgs", [series.in, series.out]); draw("#c-conns", [series.conns]);
}

// ---- connection ---------------------------------------------------------------

function setConn(s, text) {
  const c = $("#conn");
  c.dataset.state = s;
  c.textContent = text || s;
}

function summary() {
  if (ALL) return;
  const n = state.counts || {};
  const parts = [["claimable", "available"], ["blocked", "blocked"], ["claimed", "claimed"],
    ["completed", "completed"], ["failed", "failed"], ["needs_human", "need a human"]].map(([k, label]) => `${n[k] ?? 0} ${label}`);
  $("#summary").textContent = `${state.agents.size} agents · ${parts.join(" · ")}`;
}

function send(frame) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(frame));
}

async function loadState() {
  const h = await api("/health");
  state.prefix = h.subject_prefix || state.prefix;
  state.staleAfter = h.agent_stale_after_seconds ?? state.staleAfter;
  state.deadAfter = h.agent_dead_after_seconds ?? state.deadAfter;
  await loadProjects();
  if (ALL) { loadStreams(); await loadPause(); return; }
  const [agents, counts, coord, errors, events] = await Promise.all([
    api("/api/agents?include_stale=true"), api("/api/v2/tasks/counts"),
    api(`/api/v2/messages/coordination?limit=100`), api(`/api/v2/messages/errors?limit=100`),
    api("/api/v2/tasks/events?limit=40"), loadPause(), loadReservations(), loadSlots(),
  ]);
  // Recent events from before the page opened, newest first.
  state.timeline = events.events.map(eventText).reverse();
  $("#timeline").replaceChildren(...state.timeline.map((t) => el("li", { text: t })));
  state.agents = new Map(agents.map((a) => [a.agent_id, a]));
  state.counts = counts;
  await Promise.all(COLUMNS.map((col) => loadColumn(col, false)));
  $("#msgs-coordination").replaceChildren(); $("#msgs-errors").replaceChildren();
  // Every record, as the live feed shows them (the compatible route lists
  // only what old clients can parse as a message).
  coord.messages.forEach((m) => addMessage("coordination", m));
  errors.messages.forEach((m) => addMessage("errors", m));
  renderAgents(); summary(); loadStreams();
}

function onFrame(f) {
  if (f.op !== "msg") return;
  const p = state.prefix;
  if (f.sid === "work") {
    if (f.subject === `${p}.tasks`) upsertTask(f.data, true);
    else if (f.subject === `${p}.coordination`) addMessage("coordination", asMessage(f));
    else if (f.subject === `${p}.errors`) addMessage("errors", asMessage(f));
  } else if (f.sid === "agents") {
    if (f.data === null) {
      for (const [id, a] of state.agents) if (f.subject.endsWith("." + id)) state.agents.delete(id);
      renderAgents();
    } else upsertAgent(f.data);
  } else if (f.sid === "sys") {
    metrics(f.data);
    // The server's report counts the default project's tasks.
    if (!PROJECT) setCounts(f.data.tasks);
  }
  else if (f.sid === "control") { if (f.subject === `${state.root}.control.pause`) setPause(f.data); }
  else if (f.sid === "machine") { loadPause().catch(() => {}); }
  else if (f.sid === "res") { refreshSoon("reservations", loadReservations); }
  else if (f.sid === "slots") { refreshSoon("slots", loadSlots); }
  else if (f.sid === "tail") addTail(f);
}

function connect() {
  setConn(state.retry ? "reconnecting" : "connecting");
  const query = TOKEN ? `?token=${encodeURIComponent(TOKEN)}` : "";
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws${query}`);
  state.ws = ws;
  ws.onopen = async () => {
    // The project's subjects first, so nothing between them and the
    // subscriptions is missed.
    try { await loadProjects(); } catch (e) { console.warn(e); }
    send({ op: "sub", sid: "sys", subject: "$SYS.metrics" });
    send({ op: "sub", sid: "machine", subject: "hivelog.state.control.machine" });
    if (!ALL) {
      send({ op: "sub", sid: "work", subject: `${state.prefix}.>` });
      send({ op: "sub", sid: "agents", subject: `${state.root}.agent.*` });
      send({ op: "sub", sid: "control", subject: `${state.root}.control.*` });
      send({ op: "sub", sid: "res", subject: `${state.root}.reservation.*` });
      send({ op: "sub", sid: "slots", subject: `${state.root}.slot.*` });
    }
    subscribeTail();
    try { await loadState(); } catch (e) { console.warn(e); }
    state.retry = 0;
    setConn("live");
  };
  ws.onmessage = (ev) => { try { onFrame(JSON.parse(ev.data)); } catch (e) { console.warn(e); } };
  ws.onclose = () => {
    const wait = Math.min(15000, 500 * 2 ** state.retry++);
    setConn("reconnecting", `reconnecting in ${Math.round(wait / 1000)}s`);
    // A refused upgrade looks like any other close; ask the API why.
    api("/api/agents").catch(() => {});
    setTimeout(connect, wait);
  };
}

// Re-query every column when the filters change.
initControls(() => {
  Promise.all(COLUMNS.map((col) => loadColumn(col, false))).catch((e) => console.warn(e));
});

// Health turns stale and dead on time even when nothing happens;
// reservations and permits expire without an event.
setInterval(renderAgents, 1000);
setInterval(() => { loadReservations().catch(() => {}); loadSlots().catch(() => {}); }, 5000);
setInterval(loadStreams, 5000);
setInterval(() => { loadProjects().catch(() => {}); }, 5000);
connect();
