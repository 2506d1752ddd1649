// mfi-sim training console. Every value from the server is put on the page as text (textContent), never as
// HTML, so scenario text cannot inject markup. The page drives the clock with POST /advance and redraws from
// the answers and from the live stream (server-sent events).
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const state = { sid: null, st: null, version: -1, playing: false, busy: false, timer: null, source: null,
                queueOffset: 0, config: {}, debriefShown: false };

function el(tag, attrs, ...kids) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined) continue;
    node.append(kid instanceof Node ? kid : String(kid));
  }
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  return node;
}

function table(headers, rows) {
  return el("table", {}, el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
            el("tbody", {}, rows));
}

function dur(s) {
  if (s === null || s === undefined) return "—";
  s = Math.round(s);
  if (s === 0) return "0s";
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60), x = s % 60;
  return (d ? d + "d" : "") + (h ? h + "h" : "") + (m ? m + "m" : "") + (x ? x + "s" : "");
}

function when(iso) { return iso ? iso.replace("T", " ").replace(/\.\d+Z$/, " UTC") : "—"; }

function say(text, error) {
  const box = $("message");
  box.textContent = text;
  box.className = error ? "message error" : "message";
  box.hidden = !text;
}

async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  const r = await fetch(path, opts);
  const data = (r.headers.get("content-type") || "").includes("json") ? await r.json() : await r.text();
  if (!r.ok) throw new Error(data && data.error ? data.error : "HTTP " + r.status);
  return data;
}

// ------------------------------------------------------------------------------------------ set-up
async function init() {
  setInterval(() => { $("clock-wall").textContent = new Date().toLocaleTimeString(); }, 1000);
  $("clock-wall").textContent = new Date().toLocaleTimeString();
  state.config = await api("GET", "/api/config");
  const list = await api("GET", "/api/scenarios");
  state.names = list.map((s) => s.name);
  $("scenario").append(el("option", { value: "" }, "Surprise me: a scenario picked at random (its name stays hidden)"));
  for (const s of list) $("scenario").append(el("option", { value: s.name }, s.title + " (" + s.name + ")"));
  $("scenario").value = list.length ? list[0].name : "";
  if (state.config.scenario) $("scenario").value = state.config.scenario;
  $("exercise").checked = !!state.config.exercise;
  $("start").addEventListener("click", start);
  $("play").addEventListener("click", togglePlay);
  $("step").addEventListener("click", () => advance({ until: "next-event" }));
  $("jump").addEventListener("click", () => { const v = $("jump-to").value.trim(); if (v) advance({ to: v }); });
  $("finish").addEventListener("click", finish);
  $("download").addEventListener("click", download);
  for (const b of document.querySelectorAll("#nav button")) b.addEventListener("click", () => show(b.dataset.view));
  $("queue-prev").addEventListener("click", () => { state.queueOffset = Math.max(0, state.queueOffset - 50); loadQueue(); });
  $("queue-next").addEventListener("click", () => { state.queueOffset += 50; loadQueue(); });
  $("queue-connector").addEventListener("change", () => { state.queueOffset = 0; loadQueue(); });
  $("trace-search").addEventListener("click", loadTrace);
  $("transcript-refresh").addEventListener("click", loadTranscript);
  $("dns-save").addEventListener("click", () => act({ do: "set_dns_record", name: $("dns-name").value.trim(),
    type: $("dns-type").value, value: $("dns-value").value.trim(), ttl: Number($("dns-ttl").value) }));
  const saved = sessionStorage.getItem("mfi-console-session");
  if (saved) {
    try { state.sid = saved; render(await api("GET", "/api/sessions/" + saved)); opened(); }
    catch (e) { sessionStorage.removeItem("mfi-console-session"); state.sid = null; }
  }
}

async function start() {
  stopPlay();
  try {
    const picked = $("scenario").value || state.names[Math.floor(Math.random() * state.names.length)];
    const r = await api("POST", "/api/sessions", { scenario: picked, exercise: $("exercise").checked });
    state.sid = r.id; state.version = -1; state.debriefShown = false;
    sessionStorage.setItem("mfi-console-session", r.id);
    render(await api("GET", "/api/sessions/" + r.id));
    opened();
    say(state.st.scenario.exercise ? "Exercise started: mail is not flowing as it should. Find out why and restore it."
                                   : "Session started. Press Play, or step to the next thing that happens.");
  } catch (e) { say(e.message, true); }
}

function opened() {
  $("controls").hidden = false; $("main").hidden = false;
  $("download").href = "/api/sessions/" + state.sid + "/scenario.toml";
  if (state.source) state.source.close();
  state.source = new EventSource("/api/sessions/" + state.sid + "/events");
  state.source.addEventListener("state", (ev) => render(JSON.parse(ev.data)));
  state.source.onerror = () => {};   // the browser reconnects by itself
  show("home");
}

function show(view) {
  for (const b of document.querySelectorAll("#nav button")) b.classList.toggle("active", b.dataset.view === view);
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== "view-" + view;
  if (view === "queue") loadQueue();
  if (view === "transcript") loadTranscript();
  if (view === "trace") loadTrace();
  if (view === "debrief") loadDebrief();
}

// ------------------------------------------------------------------------------------------ the clock
function togglePlay() { if (state.playing) stopPlay(); else startPlay(); }

function startPlay() {
  if (!state.st || state.st.scenario.ended) return;
  state.playing = true; $("play").textContent = "Pause";
  state.timer = setInterval(() => { if (!state.busy) advance({ by: (Number($("speed").value) / 2) + "s" }); }, 500);
}

function stopPlay() {
  state.playing = false; $("play").textContent = "Play";
  if (state.timer) clearInterval(state.timer);
  state.timer = null;
}

async function advance(body) {
  if (!state.sid || state.busy) return;
  state.busy = true;
  try { render(await api("POST", "/api/sessions/" + state.sid + "/advance", body)); }
  catch (e) { stopPlay(); say(e.message, true); }
  finally { state.busy = false; }
}

async function act(body) {
  if (!state.sid) return;
  try {
    render(await api("POST", "/api/sessions/" + state.sid + "/actions", body));
    say("Done: " + describe(body) + " at " + dur(state.st.t) + ".");
  } catch (e) { say("Refused: " + e.message, true); }
}

function describe(body) {
  return body.do.replace(/_/g, " ") + (body.connector ? " on '" + body.connector + "'" : "");
}

async function finish() {
  stopPlay();
  await advance({ to: dur(state.st.scenario.duration_s) || "0s" });
}

function download(ev) {
  if (!state.sid) ev.preventDefault();
}

// ------------------------------------------------------------------------------------------ drawing
function render(st) {
  if (!st || st.version <= state.version) return;
  state.version = st.version; state.st = st;
  const sc = st.scenario;
  $("clock-sim").textContent = when(st.at);
  $("clock-offset").textContent = "T+" + dur(st.t) + " of " + dur(sc.duration_s) + (sc.ended ? " (ended)" : "");
  $("story-card").hidden = sc.exercise;
  $("story").textContent = sc.description;
  $("finish").hidden = !sc.exercise || sc.ended;
  $("play").disabled = $("step").disabled = $("jump").disabled = sc.ended;
  $("queued-for").textContent = dur(sc.queued_for_s);
  drawTiles(st); drawInsights(st); drawAlerts(st); drawChart(st); drawConnectors(st); drawDns(st);
  drawServers(st); drawTimeline(st);
  if (sc.ended) {
    stopPlay();
    if (state.source) { state.source.close(); state.source = null; }   // nothing more will change
    if (sc.exercise && !state.debriefShown) {
      state.debriefShown = true; $("nav-debrief").hidden = false; show("debrief");
      say("The exercise has ended. Here is how you did.");
    }
  }
}

function drawTiles(st) {
  const s = st.summary;
  const queued = st.connectors.reduce((n, c) => n + c.queued_messages, 0);
  const tiles = [["Queued now (messages)", queued], ["Received", s.received], ["Delivered", s.delivered],
                 ["Non-delivery reports", s.ndr], ["Rejected", s.rejected],
                 ["Active alerts", st.alerts.filter((a) => a.status === "Active").length]];
  $("tiles").replaceChildren(...tiles.map(([k, n]) => el("div", { class: "tile" }, el("div", { class: "n" }, n),
                                                          el("div", { class: "k" }, k))));
}

function drawInsights(st) {
  const cards = st.alerts.filter((a) => a.kind === "insight" && a.status === "Active").map((a) => {
    const fix = a.fix_now ? el("button", { class: "primary fix-now", onclick: () =>
      act({ do: "fix_now", connector: a.connector }) }, "Fix now") : null;
    return el("div", { class: "insight", "data-connector": a.connector },
      el("h3", {}, a.queued_messages + " messages queued on connector '" + a.connector + "'"),
      el("div", {}, el("span", { class: "code" }, a.code || ""), " ", a.title || ""),
      el("dl", {}, el("dt", {}, "Last error"), el("dd", {}, a.last_error || "—"),
         el("dt", {}, "Destination"), el("dd", {}, (a.destination || "—") + (a.last_ip ? " (" + a.last_ip + ")" : "")),
         el("dt", {}, "Queued since"), el("dd", {}, when(a.queue_started_at)),
         el("dt", {}, "Oldest message expires"), el("dd", {}, when(a.oldest_expires_at))),
      el("h4", {}, "Likely causes"), el("ul", {}, a.causes.map((c) => el("li", {}, c))),
      el("h4", {}, "How to fix it"), el("ul", {}, a.fixes.map((c) => el("li", {}, c))), fix);
  });
  $("insights").replaceChildren(...(cards.length ? cards : [el("p", { class: "muted" }, "No insights right now.")]));
}

function drawAlerts(st) {
  const alerts = st.alerts.filter((a) => a.kind !== "insight" || a.status !== "Active");
  if (!alerts.length) { $("alerts").replaceChildren(el("p", { class: "muted" }, "No alerts.")); return; }
  const rows = alerts.map((a) => el("tr", {},
    el("td", {}, a.kind === "insight" ? "Insight: messages queued" : a.policy), el("td", {}, a.severity),
    el("td", {}, el("span", { class: "status " + (a.status === "Active" ? "Active-alert" : "Resolved") }, a.status)),
    el("td", {}, a.connector), el("td", {}, a.code || ""), el("td", {}, when(a.raised_at)),
    el("td", {}, when(a.resolved_at)), el("td", {}, a.aged_messages),
    el("td", {}, state.config.can_resolve_alerts && a.status === "Active" && a.kind !== "insight"
      ? el("button", { onclick: () => act({ do: "resolve_alert", alert: a.id }) }, "Resolve") : "")));
  $("alerts").replaceChildren(table(["Alert", "Severity", "Status", "Connector", "Code", "Raised", "Resolved",
                                     "Queued over the limit", ""], rows));
}

function drawChart(st) {
  const W = 900, H = 260, L = 50, R = 10, T = 10, B = 28;
  const end = st.scenario.duration_s, pts = st.series;
  const top = Math.max(10, st.scenario.threshold * 1.1, ...pts.map((p) => p[1]));
  const x = (t) => L + (W - L - R) * t / end, y = (v) => H - B - (H - T - B) * v / top;
  const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "queued messages over time" });
  for (const f of st.fault_windows) {
    g.append(svg("rect", { x: x(f.start_s), y: T, width: Math.max(1, x(f.end_s) - x(f.start_s)), height: H - T - B,
                           fill: "rgba(197,15,31,0.12)" }));
  }
  for (let i = 0; i <= 4; i++) {
    const v = Math.round(top * i / 4);
    g.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#eee" }));
    const t = svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", "font-size": 11, fill: "#616161" });
    t.textContent = String(v); g.append(t);
  }
  const step = end > 86400 ? 21600 : end > 21600 ? 7200 : 3600;
  for (let t = 0; t <= end; t += step) {
    const lab = svg("text", { x: x(t), y: H - 8, "text-anchor": "middle", "font-size": 11, fill: "#616161" });
    lab.textContent = t === 0 ? "0h" : dur(t); g.append(lab);
  }
  g.append(svg("line", { x1: L, x2: W - R, y1: y(st.scenario.threshold), y2: y(st.scenario.threshold),
                         stroke: "#c50f1f", "stroke-dasharray": "6 4" }));
  const line = (i, color) => svg("polyline", { points: pts.map((p) => x(p[0]) + "," + y(p[i])).join(" "),
                                                 fill: "none", stroke: color, "stroke-width": 2 });
  if (pts.length) { g.append(line(1, "#0f6cbd")); g.append(line(2, "#bc4b09")); }
  for (const a of st.actions) {
    g.append(svg("line", { x1: x(a.t), x2: x(a.t), y1: T, y2: H - B, stroke: "#0e700e", "stroke-width": 2 }));
    const lab = svg("text", { x: x(a.t) + 3, y: T + 12, "font-size": 11, fill: "#0e700e" });
    lab.textContent = a.do.replace(/_/g, " "); g.append(lab);
  }
  g.append(svg("line", { x1: x(st.t), x2: x(st.t), y1: T, y2: H - B, stroke: "#242424", "stroke-dasharray": "2 3" }));
  $("chart").replaceChildren(g);
}

function editing(id) {
  // A form the trainee is typing in is not redrawn under their fingers (the clock may be playing).
  return $(id).contains(document.activeElement) && document.activeElement.tagName !== "BUTTON";
}

function drawConnectors(st) {
  if (editing("connectors")) return;
  const rows = st.connectors.map((c) => {
    const hosts = el("input", { size: 26, value: c.smart_hosts.join(", "), "aria-label": "smart hosts" });
    const save = el("button", { onclick: () => act({ do: "set_smart_hosts", connector: c.name,
      smart_hosts: hosts.value.split(",").map((h) => h.trim()).filter((h) => h) }) }, "Save smart hosts");
    const mode = el("select", { "aria-label": "TLS setting" },
      ["None", "EncryptionOnly", "CertificateValidation", "DomainValidation"].map((m) => el("option", { value: m }, m)));
    mode.value = c.tls;
    const domain = el("input", { size: 18, value: c.tls_domain || "", placeholder: "TLS domain", "aria-label": "TLS domain" });
    const saveTls = el("button", { onclick: () => act(Object.assign({ do: "set_tls", connector: c.name, tls: mode.value },
      mode.value === "DomainValidation" ? { tls_domain: domain.value.trim() } : {})) }, "Save TLS");
    const toggle = el("button", { onclick: () => act({ do: c.enabled ? "disable_connector" : "enable_connector",
                                                      connector: c.name }) }, c.enabled ? "Turn off" : "Turn on");
    return el("tr", { "data-connector": c.name },
      el("td", {}, el("strong", {}, c.name), el("div", { class: "muted" }, "to " + c.recipient_domains.join(", "))),
      el("td", {}, el("span", { class: "status " + c.status }, c.status), c.fixed ? el("div", { class: "muted" },
        "not used any more (Fix now)") : ""),
      el("td", { class: "queued" }, c.queued_messages), el("td", {}, c.retry_count),
      el("td", { class: "err" }, c.last_error || "—"),
      el("td", {}, c.use_mx ? "MX records of the domain" : el("div", {}, hosts, " ", save),
         el("div", { class: "tls" }, "TLS ", mode, " ", domain, " ", saveTls)),
      el("td", {}, c.enabled ? "On" : "Off", " ", toggle));
  });
  $("connectors").replaceChildren(table(["Name", "Status", "Queued", "Retries", "Last error", "Routing", "State"],
                                        rows));
  const sel = $("queue-connector"), names = st.connectors.map((c) => c.name);
  if (sel.options.length !== names.length) sel.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
}

function drawDns(st) {
  $("dns").replaceChildren(table(["Name", "Type", "TTL", "Value", ""], st.dns.map((r) => el("tr", {},
    el("td", {}, r.name), el("td", {}, r.type), el("td", {}, r.ttl), el("td", {}, r.value),
    el("td", {}, el("button", { onclick: () => { $("dns-name").value = r.name; $("dns-type").value = r.type;
      $("dns-value").value = r.value; $("dns-ttl").value = r.ttl; } }, "Edit"))))));
}

function drawServers(st) {
  if (editing("servers")) return;
  $("servers").replaceChildren(table(["Server", "Certificate", "Valid until", "Renew"], st.servers.map((s) => {
    const c = s.certificate;
    const until = el("input", { type: "date", "aria-label": "new expiry date" });
    const names = el("input", { size: 22, value: c ? c.names.join(", ") : s.hostname, "aria-label": "names" });
    const renew = el("button", { onclick: () => act({ do: "renew_certificate", target: s.address,
      not_after: (until.value || "2030-01-01") + "T00:00:00Z",
      names: names.value.split(",").map((n) => n.trim()).filter((n) => n) }) }, "Install a new certificate");
    return el("tr", {}, el("td", {}, s.hostname, el("div", { class: "muted" }, s.address + ":" + s.port)),
      el("td", {}, c ? c.names.join(", ") + (c.trusted ? "" : " (untrusted)") : "none"),
      el("td", {}, c ? when(c.not_after) + (c.expired ? " (expired)" : "") : "—"),
      el("td", {}, names, " ", until, " ", renew));
  })));
  const problems = st.problems.map((p) => el("li", {}, "Server " + p.target + (p.kind ? ": " + p.kind.replace(/_/g, " ") : ""),
    " ", el("button", { onclick: () => act({ do: "clear_fault", fault: p.fault }) }, "Have it fixed")));
  $("problems").replaceChildren(problems.length ? el("ul", {}, problems)
                                                : el("p", { class: "muted" }, "Nothing reported by the on-premises team."));
}

function drawTimeline(st) {
  const mine = new Set(st.actions.map((a) => a.t));
  $("timeline").replaceChildren(...st.timeline.map((e) => el("li", { class: e.kind === "action" && mine.has(e.t) ? "you" : "" },
    el("span", { class: "when" }, dur(e.t)), el("span", {}, e.text))));
}

// ------------------------------------------------------------------------------------------ views on demand
async function loadQueue() {
  if (!state.sid) return;
  const q = new URLSearchParams({ connector: $("queue-connector").value, offset: state.queueOffset, limit: 50 });
  try {
    const page = await api("GET", "/api/sessions/" + state.sid + "/queue?" + q);
    $("queue-count").textContent = page.total ? `messages ${page.offset + 1}–${page.offset + page.messages.length} of ${page.total}` : "The queue is empty.";
    $("queue").replaceChildren(table(["Received", "From", "To", "Attempts", "Last error", "Expires"],
      page.messages.map((m) => el("tr", {}, el("td", {}, when(m.arrived_at)), el("td", {}, m.sender),
        el("td", {}, m.recipient + (m.recipients > 1 ? " (+" + (m.recipients - 1) + ")" : "")),
        el("td", {}, m.attempts), el("td", { class: "err" }, m.last_error || "—"), el("td", {}, when(m.expires_at))))));
  } catch (e) { say(e.message, true); }
}

async function loadTrace() {
  if (!state.sid) return;
  const q = new URLSearchParams({ recipient: $("trace-recipient").value, status: $("trace-status").value,
                                  since: $("trace-since").value.trim(), until: $("trace-until").value.trim() });
  try {
    const r = await api("GET", "/api/sessions/" + state.sid + "/trace?" + q);
    $("trace").replaceChildren(el("p", { class: "muted" }, r.count + " recipients (newest first, at most 100)"),
      table(["Recipient", "Received", "Status", "Events"], r.recipients.map((m) => el("tr", {},
        el("td", {}, m.recipient, el("div", { class: "muted" }, m.message_id)), el("td", {}, when(m.received_at)),
        el("td", {}, m.status), el("td", {}, el("details", {}, el("summary", {}, m.events.length + " events"),
          el("ol", { class: "events" }, m.events.map((e) => el("li", {}, dur(e.t) + " " + e.event + ": " + e.detail)))))))));
  } catch (e) { say(e.message, true); }
}

async function loadTranscript() {
  if (!state.sid) return;
  try {
    const r = await api("GET", "/api/sessions/" + state.sid + "/transcript");
    $("transcript").textContent = r.lines.join("\n");
    $("transcript-last").textContent = r.last_error ? "The queue's last error: " + r.last_error : "No failed attempt yet.";
  } catch (e) { say(e.message, true); }
}

async function loadDebrief() {
  if (!state.sid) return;
  $("debrief").replaceChildren(el("p", { class: "muted" }, "Comparing your run with the reference and with doing nothing…"));
  try {
    const d = await api("GET", "/api/sessions/" + state.sid + "/debrief");
    const runs = [d.trainee, d.reference, d.nothing];
    const row = (label, f) => el("tr", {}, el("td", {}, label), runs.map((r) => el("td", {}, f(r))));
    const compare = el("table", { class: "compare" },
      el("thead", {}, el("tr", {}, el("th", {}, ""), el("th", {}, "You"), el("th", {}, "Reference fix"),
                                     el("th", {}, "Doing nothing"))),
      el("tbody", {}, row("Delivered", (r) => r.delivered), row("Non-delivery reports", (r) => r.ndr),
        row("Expired", (r) => r.expired), row("Rejected", (r) => r.rejected),
        row("Still queued at the end", (r) => r.queued_at_end),
        row("Time to diagnose (first correct action)", (r) => dur(r.time_to_diagnose_s)),
        row("Time to mitigate (mail flowing again)", (r) => dur(r.time_to_mitigate_s))));
    const acts = (r) => r.actions.length ? el("ul", {}, r.actions.map((a) => el("li", {}, dur(a.t) + ": " + a.text)))
                                         : el("p", { class: "muted" }, "none");
    $("debrief").replaceChildren(
      el("p", {}, "Times are counted from " + d.problem_started + ", when the problem began."), compare,
      el("h3", {}, "What happened"), el("p", {}, d.description),
      el("h3", {}, "Your actions"), acts(d.trainee), el("h3", {}, "The reference actions"), acts(d.reference),
      d.refusals.length ? el("h3", {}, "Refused") : "",
      d.refusals.length ? el("ul", {}, d.refusals.map((r) => el("li", {}, dur(r.t) + ": " + r.do + " — " + r.reason))) : "",
      el("h3", {}, "Timeline"),
      el("ol", { class: "timeline" }, d.timeline.map((e) => el("li", { class: e.trainee ? "you" : "" },
        el("span", { class: "when" }, dur(e.t)), el("span", {}, e.text)))));
  } catch (e) { say(e.message, true); }
}

document.addEventListener("DOMContentLoaded", () => { init().catch((e) => say(e.message, true)); });
