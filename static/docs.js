// Renders /openapi.json: one collapsible entry per operation, grouped by
// tag, with parameters, an example body, answers and a curl line. No
// request leaves this server.

const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
};

function curl(method, path, op) {
  const example = op.requestBody && Object.values(op.requestBody.content)[0].example;
  const data = example === undefined ? "" : ` -d '${typeof example === "string" ? example : JSON.stringify(example)}'`;
  const verb = method === "get" ? "" : ` -X ${method.toUpperCase()}`;
  return `curl -s${verb} ${location.origin}${path}${data}`;
}

function params(op) {
  const list = op.parameters || [];
  if (!list.length) return null;
  const rows = list.map((p) =>
    el("tr", {}, el("td", {}, el("code", { text: p.name })), el("td", { class: "muted", text: p.in }), el("td", { text: p.description || "" })),
  );
  return el("table", {}, el("thead", {}, el("tr", {}, el("th", { text: "parameter" }), el("th", { text: "in" }), el("th", { text: "" }))), el("tbody", {}, ...rows));
}

function answers(op) {
  const rows = Object.entries(op.responses || {}).map(([status, r]) =>
    el("tr", {}, el("td", {}, el("code", { text: status })), el("td", { text: r.description })),
  );
  return el("table", {}, el("tbody", {}, ...rows));
}

function render(spec) {
  document.getElementById("version").textContent = `v${spec.info.version} · OpenAPI ${spec.openapi}`;
  document.getElementById("intro").textContent = spec.info.description;
  const byTag = new Map((spec.tags || []).map((t) => [t.name, { ...t, ops: [] }]));
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const tag = (op.tags && op.tags[0]) || "other";
      if (!byTag.has(tag)) byTag.set(tag, { name: tag, ops: [] });
      byTag.get(tag).ops.push({ path, method, op });
    }
  }
  const ops = document.getElementById("ops");
  const toc = document.getElementById("toc");
  ops.replaceChildren();
  toc.replaceChildren();
  for (const tag of byTag.values()) {
    if (!tag.ops.length) continue;
    const id = `tag-${tag.name.replace(/\W+/g, "-")}`;
    toc.append(el("a", { href: `#${id}`, text: tag.name }));
    const section = el("section", { class: "tag", id }, el("h2", { text: tag.name }), tag.description ? el("p", { class: "muted", text: tag.description }) : null);
    for (const { path, method, op } of tag.ops) {
      const example = op.requestBody && Object.values(op.requestBody.content)[0].example;
      const details = el(
        "details",
        { class: "op", "data-search": `${method} ${path} ${op.summary} ${op.description || ""}`.toLowerCase() },
        el("summary", {}, el("span", { class: `method ${method}`, text: method }), el("span", { class: "path", text: path }), el("span", { class: "muted", text: op.summary })),
        el(
          "div",
          { class: "body" },
          op.description ? el("p", { text: op.description }) : null,
          params(op),
          example === undefined ? null : el("div", {}, el("h3", { text: "example body" }), el("pre", { text: typeof example === "string" ? example : JSON.stringify(example, null, 2) })),
          el("h3", { text: "answers" }),
          answers(op),
          el("pre", { text: curl(method, path, op) }),
        ),
      );
      section.append(details);
    }
    ops.append(section);
  }
}

document.getElementById("filter").addEventListener("input", (e) => {
  const words = e.target.value.toLowerCase().split(/\s+/).filter(Boolean);
  for (const d of document.querySelectorAll(".op")) {
    d.hidden = !words.every((w) => d.dataset.search.includes(w));
  }
});

fetch("/openapi.json")
  .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`openapi.json: ${r.status}`))))
  .then(render)
  .catch((e) => {
    document.getElementById("ops").replaceChildren(el("p", { class: "muted", text: `Could not load the API description: ${e.message}` }));
  });
