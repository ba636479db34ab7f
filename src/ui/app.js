// crwatch UI: plain JS, no build step. Reads the API with the user's token; follows
// /api/v1/watch with fetch (EventSource cannot send an Authorization header).
const $ = (id) => document.getElementById(id);
const state = {
  token: sessionStorage.getItem("crwatch-token") ?? "",
  filters: {},
  oldest: null,
  follow: null,
};

async function api(path, init = {}) {
  const headers = state.token ? { Authorization: `Bearer ${state.token}` } : {};
  const res = await fetch(path, { ...init, headers: { ...headers, ...init.headers } });
  if (res.status === 401) throw Object.assign(new Error("unauthorized"), { status: 401 });
  if (!res.ok) throw new Error((await res.json()).error?.message ?? res.statusText);
  return res.json();
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

function formatRef(ref) {
  const kind = ref.group ? `${ref.kind}.${ref.group}` : ref.kind;
  const name = ref.namespace ? `${ref.namespace}/${ref.name}` : ref.name;
  return kind ? `${ref.source}:${kind} ${name}` : `${ref.source}: ${name}`;
}

function changeItem(change) {
  const label = `#${change.seq} ${change.type} ${formatRef(change.ref)}`;
  const when = new Date(change.committedAt).toLocaleString();
  const button = el(
    "button",
    { type: "button", onclick: () => showChange(change.seq) },
    el("span", { class: `t-${change.type}` }, label),
    ` · ${when}`,
    change.actor ? ` · ${change.actor.name}` : "",
  );
  const time = String(Date.parse(change.committedAt));
  return el(
    "li",
    { "data-seq": String(change.seq), "data-source": change.ref.source, "data-time": time },
    button,
  );
}

function filterQuery(extra = {}) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...state.filters, ...extra })) if (v) params.set(k, v);
  return params.toString();
}

async function loadTimeline() {
  $("timeline").replaceChildren();
  const page = await api(`/api/v1/changes?${filterQuery({ limit: "50" })}`);
  for (const change of page.items) $("timeline").append(changeItem(change));
  state.oldest = page.nextCursor;
  $("more").hidden = !page.nextCursor;
  drawChart();
  const newest = page.items[0]?.seq ?? (await api("/readyz").catch(() => ({ lastSeq: 0 }))).lastSeq;
  follow(newest ?? 0);
}

async function loadOlder() {
  const page = await api(`/api/v1/changes?${filterQuery({ limit: "50", cursor: state.oldest })}`);
  for (const change of page.items) $("timeline").append(changeItem(change));
  state.oldest = page.nextCursor;
  $("more").hidden = !page.nextCursor;
  drawChart();
}

/** Follows the SSE stream from `since`, reconnecting after the last event id it saw. */
function follow(since) {
  state.follow?.abort();
  if (!$("follow").checked) return;
  const controller = new AbortController();
  state.follow = controller;
  let last = since;
  const run = async () => {
    while (!controller.signal.aborted) {
      try {
        const headers = { "Last-Event-ID": String(last) };
        if (state.token) headers.Authorization = `Bearer ${state.token}`;
        const res = await fetch(`/api/v1/watch?${filterQuery()}`, {
          headers,
          signal: controller.signal,
        });
        setStatus(res.ok ? "following live changes" : `watch failed: ${res.status}`);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          buffer += value;
          let cut = buffer.indexOf("\n\n");
          while (cut !== -1) {
            const event = parseEvent(buffer.slice(0, cut));
            buffer = buffer.slice(cut + 2);
            if (event?.type === "change") {
              last = Number(event.id);
              $("timeline").prepend(changeItem(JSON.parse(event.data)));
              drawChart();
              loadHealth().catch(() => undefined);
              loadResources().catch(() => undefined);
            }
            cut = buffer.indexOf("\n\n");
          }
        }
      } catch (err) {
        if (controller.signal.aborted) return;
        setStatus(`stream interrupted (${err.message}); reconnecting`);
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  };
  run();
}

function parseEvent(text) {
  const event = { type: "message", data: "", id: undefined };
  for (const line of text.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event.type = value;
    else if (field === "data") event.data += event.data ? `\n${value}` : value;
    else if (field === "id") event.id = value;
  }
  return event.data ? event : null;
}

async function showChange(seq) {
  const { change, before, after } = await api(`/api/v1/changes/${seq}`);
  $("detail-empty").hidden = true;
  $("detail-body").hidden = false;
  $("detail-head").replaceChildren(
    el("span", { class: `t-${change.type}` }, `#${change.seq} ${change.type}`),
    ` ${formatRef(change.ref)} r${change.revision ?? "-"}`,
  );
  const meta = [
    ["Committed", change.committedAt],
    [
      "Actor",
      change.actor
        ? `${change.actor.name}${change.actor.via ? ` via ${change.actor.via}` : ""}`
        : "unknown",
    ],
    [
      "Cause",
      change.cause
        ? `${change.cause.kind} ${change.cause.id ?? ""} ${change.cause.message ?? ""}`
        : "unknown",
    ],
    [
      "Location",
      change.location
        ? `${change.location.path}${change.location.line ? `:${change.location.line}` : ""}`
        : "-",
    ],
  ];
  if (change.notice) meta.push(["Notice", `${change.notice.code}: ${change.notice.message}`]);
  $("detail-meta").replaceChildren(...meta.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  const findingPaths = change.findings.map((f) => f.path).filter(Boolean);
  $("detail-diff").replaceChildren(
    ...change.summary.map((line, i) => {
      const op = change.patch[i];
      const mark = op?.op === "add" ? "+" : op?.op === "remove" ? "-" : "~";
      const hit = op && findingPaths.some((p) => op.path === p || op.path.startsWith(`${p}/`));
      return el("li", { class: hit ? "finding" : "" }, `${mark} ${line}`);
    }),
  );
  $("detail-findings").replaceChildren(
    ...(change.findings.length
      ? change.findings.map((f) =>
          el(
            "li",
            { class: `sev-${f.severity}` },
            `[${f.severity}] ${f.ruleId}: ${f.message}${f.path ? ` (${f.path})` : ""}`,
          ),
        )
      : [el("li", {}, "none")]),
  );
  $("detail-before").textContent = before ? JSON.stringify(before, null, 2) : "(none)";
  $("detail-after").textContent = after ? JSON.stringify(after, null, 2) : "(none)";
}

async function loadHealth() {
  const [sources, sinks] = await Promise.all([api("/api/v1/sources"), api("/api/v1/sinks")]);
  $("sources").replaceChildren(
    ...sources.items.map((s) => {
      const status = s.health?.status ?? "unknown";
      return el(
        "li",
        {},
        `source ${s.name}: `,
        el("span", { class: status === "ok" ? "ok" : "bad" }, status),
        s.openProblems?.length ? ` · ${s.openProblems.length} problem(s)` : "",
      );
    }),
  );
  $("sinks").replaceChildren(
    ...sinks.items.map((s) =>
      el(
        "li",
        {},
        `sink ${s.name}: lag ${s.lag}`,
        s.deadLetters ? el("span", { class: "bad" }, ` · ${s.deadLetters} dead letter(s)`) : "",
      ),
    ),
  );
}

async function loadResources() {
  const page = await api("/api/v1/resources?limit=200");
  $("resources").replaceChildren(
    ...page.items.map((r) =>
      el(
        "li",
        { "data-id": r.id },
        el(
          "button",
          { type: "button", onclick: () => showResource(r) },
          `${formatRef(r.ref)} r${r.revision}`,
        ),
      ),
    ),
  );
}

async function showResource(resource) {
  const { items } = await api(`/api/v1/resources/${resource.id}/revisions`);
  state.resource = resource;
  $("resource-empty").hidden = true;
  $("resource-body").hidden = false;
  $("resource-head").textContent = formatRef(resource.ref);
  $("revisions").replaceChildren(
    ...items.map((r) =>
      el(
        "li",
        {},
        `r${r.revision} ${r.change?.type ?? ""} #${r.seq} ${r.change?.committedAt ?? ""}${r.change?.actor ? ` · ${r.change.actor.name}` : ""}`,
      ),
    ),
  );
  const options = () =>
    items.map((r) => el("option", { value: String(r.revision) }, `r${r.revision}`));
  $("compare-from").replaceChildren(...options());
  $("compare-to").replaceChildren(...options());
  $("compare-from").value = String(items[Math.max(0, items.length - 2)]?.revision ?? 1);
  $("compare-to").value = String(items[items.length - 1]?.revision ?? 1);
  $("revision-diff").replaceChildren();
}

async function compareRevisions() {
  const from = $("compare-from").value;
  const to = $("compare-to").value;
  const result = await api(`/api/v1/resources/${state.resource.id}/diff?from=${from}&to=${to}`);
  const lines = result.summary.length ? result.summary : ["no difference"];
  $("revision-diff").replaceChildren(
    ...lines.map((line, i) => {
      const op = result.patch[i]?.op;
      return el("li", {}, `${op === "add" ? "+" : op === "remove" ? "-" : op ? "~" : ""} ${line}`);
    }),
  );
}

/** Bars of changes per source over the span of the loaded timeline (12 buckets). */
function drawChart() {
  const items = [...$("timeline").querySelectorAll("li")].map((li) => li.dataset);
  const times = items.map((d) => Number(d.time));
  if (times.length === 0) return $("chart").replaceChildren("no changes yet");
  const start = Math.min(...times);
  const span = Math.max(1, Math.max(...times) - start + 1);
  const buckets = 12;
  const bySource = new Map();
  for (const d of items) {
    const counts = bySource.get(d.source) ?? new Array(buckets).fill(0);
    counts[Math.min(buckets - 1, Math.floor(((Number(d.time) - start) / span) * buckets))]++;
    bySource.set(d.source, counts);
  }
  const max = Math.max(...[...bySource.values()].flat());
  const ns = "http://www.w3.org/2000/svg";
  const rows = [...bySource.entries()].map(([source, counts]) => {
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("width", String(buckets * 10));
    svg.setAttribute("height", "24");
    counts.forEach((n, i) => {
      const h = Math.round((n / max) * 22);
      const bar = document.createElementNS(ns, "rect");
      for (const [k, v] of Object.entries({
        x: i * 10,
        y: 24 - h,
        width: 8,
        height: h,
        fill: "#1a73e8",
      }))
        bar.setAttribute(k, String(v));
      const title = document.createElementNS(ns, "title");
      title.textContent = `${source}: ${n}`;
      bar.append(title);
      svg.append(bar);
    });
    return el(
      "div",
      { class: "chart-row" },
      el("span", {}, `${source} `),
      svg,
      ` ${counts.reduce((a, b) => a + b, 0)}`,
    );
  });
  $("chart").replaceChildren(...rows);
}

/** ", namespace edge" for a token that sees one namespace and/or one source. */
function scopeText(scope) {
  const parts = [];
  if (scope?.namespace !== undefined) parts.push(`namespace ${scope.namespace || "(cluster)"}`);
  if (scope?.source !== undefined) parts.push(`source ${scope.source}`);
  return parts.length ? `, ${parts.join(", ")} only` : "";
}

function setStatus(text) {
  $("status").textContent = text;
}

async function start() {
  try {
    const me = await api("/api/v1/whoami");
    $("login").hidden = true;
    $("main").hidden = false;
    setStatus(`signed in as ${me.name} (${me.role}${scopeText(me.scope)})`);
    await Promise.all([loadTimeline(), loadHealth(), loadResources()]);
  } catch (err) {
    if (err.status !== 401) return setStatus(`error: ${err.message}`);
    $("main").hidden = true;
    $("login").hidden = false;
    setStatus("log in with an API token");
    if (state.token) $("login-error").textContent = "that token was not accepted";
  }
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  state.token = $("token").value.trim();
  sessionStorage.setItem("crwatch-token", state.token);
  start();
});
$("filters").addEventListener("submit", (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  state.filters = Object.fromEntries([...form.entries()].filter(([, v]) => v));
  loadTimeline();
});
$("follow").addEventListener("change", () => loadTimeline());
$("more").addEventListener("click", () => loadOlder());
$("compare").addEventListener("submit", (e) => {
  e.preventDefault();
  compareRevisions();
});
start();
