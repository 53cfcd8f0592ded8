// synq console: polls the JSON API of the synqd that served it, draws its own charts on
// canvas, and runs the actions through POST /api/... (same origin; a bearer token when the
// server asks for one). Every value from the server goes into the page as text
// (textContent), never as markup, so a job body or a tube name cannot inject anything.
"use strict";

const $ = (sel) => document.querySelector(sel);
const COLORS = ["#2563eb", "#16a34a", "#dc2626", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];
const state = { tube: null, jobState: "ready", sortKey: "name", sortAsc: true, tubes: [], tubesAt: 0 };
// With many tubes the table costs the server a few milliseconds per thousand tubes (formatted
// whole on its event loop): then it is refreshed every 5 s rather than every second.
const MANY_TUBES = 500;

function token() { return sessionStorage.getItem("synq-token") || ""; }

async function api(path, body) {
  const headers = {};
  if (token()) headers["Authorization"] = "Bearer " + token();
  const init = { headers, cache: "no-store" };
  if (body !== undefined) {
    init.method = "POST";
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch("/api/" + path, init);
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (res.status === 401) $("#token-form").hidden = false;
  if (!res.ok) {
    const msg = data && data.error ? data.error + (data.message ? ": " + data.message : "") : "HTTP " + res.status;
    throw new Error(msg);
  }
  return data;
}

function say(msg, isErr) {
  const s = $("#status");
  s.textContent = msg;
  s.className = isErr ? "err" : "";
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function fmtBytes(n) {
  if (n === undefined || n === null) return "-";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}

function fmtDuration(s) {
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return d ? d + "d " + h + "h" : h ? h + "h " + m + "m" : m + "m " + (s % 60) + "s";
}

// ---- summary ----

function renderSummary(sum) {
  const st = sum.stats, log = sum.log;
  const jobs = st["current-jobs-ready"] + st["current-jobs-reserved"] + st["current-jobs-delayed"] + st["current-jobs-buried"];
  const cards = [
    ["version", sum.version], ["uptime", fmtDuration(st.uptime)],
    ["jobs now", jobs], ["connections", st["current-connections"]],
    ["tubes", st["current-tubes"]], ["workers waiting", st["current-waiting"]],
    ["job memory", fmtBytes(sum.memory.job_bytes) + (sum.memory.max_memory ? " / " + fmtBytes(sum.memory.max_memory) : "")],
    ["resident memory", fmtBytes(sum.memory.resident_bytes)],
    ["log", log ? "segments " + st["binlog-oldest-index"] + "–" + st["binlog-current-index"] : "off (no -b)"],
    ["log live / dead", log ? fmtBytes(log["binlog-bytes-live"]) + " / " + fmtBytes(log["binlog-bytes-dead"]) : "-"],
    ["fsyncs", log ? log["binlog-fsyncs"] : "-"],
    ["fsync mean", sum.fsync.count ? (sum.fsync.mean_us / 1000).toFixed(2) + " ms" : "-"],
  ];
  const box = $("#summary");
  box.replaceChildren(...cards.map(([k, v]) => {
    const c = el("div", null, "card");
    c.append(el("b", v), el("span", k));
    return c;
  }));
  $("#drain").hidden = !st.draining;
}

// ---- charts (canvas, no library) ----

function drawChart(canvas, series, legendEl) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 600, h = canvas.clientHeight || 180;
  canvas.width = w * dpr; canvas.height = h * dpr;
  const g = canvas.getContext("2d");
  g.scale(dpr, dpr);
  g.clearRect(0, 0, w, h);
  const left = 44, bottom = 18, top = 6, right = 6;
  let max = 1, n = 0;
  for (const s of series) {
    n = Math.max(n, s.values.length);
    for (const v of s.values) if (v !== null && v > max) max = v;
  }
  const pw = w - left - right, ph = h - top - bottom;
  g.strokeStyle = "#e5e7eb"; g.fillStyle = "#6b7280"; g.font = "11px system-ui"; g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = top + ph - ph * i / 4;
    g.beginPath(); g.moveTo(left, y); g.lineTo(w - right, y); g.stroke();
    g.fillText(String(Math.round(max * i / 4)), 2, y + 4);
  }
  g.fillText("-10 min", left, h - 4);
  g.fillText("now", w - right - 22, h - 4);
  const slots = 600; // the server keeps ten minutes of one-second samples
  series.forEach((s, si) => {
    g.strokeStyle = COLORS[si % COLORS.length]; g.lineWidth = 1.5; g.beginPath();
    let pen = false;
    const off = slots - s.values.length;
    s.values.forEach((v, i) => {
      if (v === null) { pen = false; return; }
      const x = left + pw * (off + i) / (slots - 1), y = top + ph - ph * v / max;
      if (pen) g.lineTo(x, y); else g.moveTo(x, y);
      pen = true;
    });
    g.stroke();
  });
  legendEl.replaceChildren(...series.map((s, si) => {
    const span = el("span", s.name);
    const sw = el("i"); sw.style.background = COLORS[si % COLORS.length];
    span.prepend(sw);
    return span;
  }));
}

function renderHistory(h) {
  drawChart($("#rates"), ["put", "reserve", "delete", "timeout"].map((k) => ({ name: k, values: h[k] })), $("#rate-legend"));
  drawChart($("#depths"), Object.keys(h.tubes).map((k) => ({ name: k, values: h.tubes[k] })), $("#depth-legend"));
}

// ---- tubes ----

function renderTubes() {
  const filter = $("#tube-filter").value.trim().toLowerCase();
  const key = state.sortKey, dir = state.sortAsc ? 1 : -1;
  const rows = state.tubes.filter((t) => String(t.name).toLowerCase().includes(filter));
  rows.sort((a, b) => {
    const x = a[key], y = b[key];
    const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return c * dir || String(a.name).localeCompare(String(b.name));
  });
  const keys = ["name", "current-jobs-ready", "current-jobs-reserved", "current-jobs-delayed", "current-jobs-buried",
    "current-jobs-urgent", "current-waiting", "current-watching", "total-jobs", "pause-time-left"];
  $("#tubes tbody").replaceChildren(...rows.map((t) => {
    const tr = el("tr");
    tr.dataset.tube = t.name;
    if (t.name === state.tube) tr.className = "sel";
    for (const k of keys) tr.append(el("td", t[k]));
    tr.addEventListener("click", () => selectTube(String(t.name)));
    return tr;
  }));
  document.querySelectorAll("#tubes th").forEach((th) => {
    th.classList.toggle("sorted", th.dataset.key === key);
    th.classList.toggle("asc", th.dataset.key === key && state.sortAsc);
  });
}

function selectTube(name) {
  state.tube = name;
  $("#tube-panel").hidden = false;
  $("#tube-name").textContent = name;
  renderTubes();
  refreshJobs();
}

// ---- jobs ----

function hexSpaced(hex) { return hex.replace(/(..)/g, "$1 ").trim(); }

async function refreshJobs() {
  if (!state.tube) return;
  const tube = state.tube, st = state.jobState;
  let jobs;
  try {
    jobs = await api("jobs?tube=" + encodeURIComponent(tube) + "&state=" + st + "&count=100");
  } catch (e) { say("jobs: " + e.message, true); return; }
  if (tube !== state.tube || st !== state.jobState) return;
  $("#jobs tbody").replaceChildren(...jobs.map((j) => {
    const tr = el("tr");
    tr.dataset.id = j.id;
    for (const k of ["id", "pri", "age", "delay", "time-left", "reserves", "buries", "kicks"]) tr.append(el("td", j[k]));
    const body = j.binary ? hexSpaced(j.body_hex) : j.body;
    tr.append(el("td", body + (j.truncated ? " … (" + j.size + " bytes)" : ""), j.binary ? "body hex" : "body"));
    const acts = el("td");
    if (st === "buried" || st === "delayed") {
      const k = el("button", "kick", "kick-job");
      k.addEventListener("click", () => act("kick-job", { id: j.id }, "kicked job " + j.id));
      acts.append(k);
    }
    if (st !== "reserved") {
      const d = el("button", "delete", "delete-job danger");
      d.addEventListener("click", () => act("delete", { id: j.id }, "deleted job " + j.id));
      acts.append(d);
    }
    tr.append(acts);
    return tr;
  }));
  $("#jobs-more").textContent = jobs.length === 100 ? "showing the first 100 jobs" : jobs.length + " jobs";
}

async function act(path, body, done) {
  try {
    const r = await api(path, body);
    const n = r.kicked ?? r.flushed ?? r.moved;
    say(done + (n !== undefined && path !== "kick-job" ? ": " + n : ""));
  } catch (e) { say(path + ": " + e.message, true); }
  state.tubesAt = 0;
  await refresh();
}

// ---- polling ----

let refreshing = false;

async function refresh() {
  if (refreshing) return; // a slow server: skip a tick rather than pile requests up
  refreshing = true;
  try {
    await refreshAll();
  } finally {
    refreshing = false;
  }
}

async function refreshAll() {
  try {
    const now = Date.now();
    const wantTubes = state.tubes.length < MANY_TUBES || now - state.tubesAt >= 5000;
    const [sum, tubes, hist] = await Promise.all([api("summary"), wantTubes ? api("tubes") : null,
      api("history")]);
    $("#conn").textContent = "live";
    $("#conn").className = "badge ok";
    renderSummary(sum);
    if (tubes) {
      state.tubes = tubes;
      state.tubesAt = now;
      renderTubes();
    }
    renderHistory(hist);
  } catch (e) {
    $("#conn").textContent = "offline: " + e.message;
    $("#conn").className = "badge bad";
  }
  await refreshJobs();
}

function wire() {
  document.querySelectorAll("#tubes th").forEach((th) => th.addEventListener("click", () => {
    if (state.sortKey === th.dataset.key) state.sortAsc = !state.sortAsc;
    else { state.sortKey = th.dataset.key; state.sortAsc = th.dataset.key === "name"; }
    renderTubes();
  }));
  $("#tube-filter").addEventListener("input", renderTubes);
  document.querySelectorAll("#state-tabs button").forEach((b) => b.addEventListener("click", () => {
    state.jobState = b.dataset.state;
    document.querySelectorAll("#state-tabs button").forEach((x) => x.classList.toggle("on", x === b));
    refreshJobs();
  }));
  $("#put-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    act("put", { tube: f.get("tube"), body: f.get("body"), pri: Number(f.get("pri")),
      delay: Number(f.get("delay")), ttr: Number(f.get("ttr")) }, "put into " + f.get("tube"));
  });
  $("#kick").addEventListener("click", () => act("kick", { tube: state.tube, bound: Number($("#kick-n").value) }, "kicked"));
  $("#kick-all").addEventListener("click", () => act("kick", { tube: state.tube }, "kicked"));
  $("#flush").addEventListener("click", () => {
    const s = $("#flush-state").value;
    if (confirm("Delete every " + s + " job of " + state.tube + "?")) act("flush", { tube: state.tube, state: s }, "flushed");
  });
  $("#move").addEventListener("click", () => act("move", { from: state.tube, to: $("#move-to").value, state: $("#move-state").value }, "moved"));
  $("#pause").addEventListener("click", () => act("pause", { tube: state.tube, delay: Number($("#pause-s").value) }, "paused " + state.tube));
  $("#token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem("synq-token", $("#token").value);
    $("#token-form").hidden = true;
    refresh();
  });
  refresh();
  setInterval(refresh, 1000);
}

wire();
