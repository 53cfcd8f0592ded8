// synq console: polls the JSON API of the synqd that served it, draws its own charts on
// canvas, and runs the actions through POST /api/... (same origin; a bearer token when the
// server asks for one). Every value from the server goes into the page as text
// (textContent), never as markup, so a job body or a tube name cannot inject anything.
//
// Logging in (synqd --users): the page's own form takes a user name and password, keeps them
// in this script's memory only (never storage: a reload or a closed tab forgets them) and
// sends them as HTTP Basic on every API call. Calls go out with credentials "omit" so that a
// 401 comes back to the page (which shows its form and why) instead of making the browser
// pop up its own Basic prompt; only a client certificate needs the browser's credentials, so
// when a call without them cannot even connect (a TLS port that requires a certificate), or
// the user picks "client certificate", the page sends them from then on.
"use strict";

const $ = (sel) => document.querySelector(sel);
const COLORS = ["#2563eb", "#16a34a", "#dc2626", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];
const state = { tube: null, jobState: "ready", sortKey: "name", sortAsc: true, tubes: [], tubesAt: 0 };
// With many tubes the table costs the server a few milliseconds per thousand tubes (formatted
// whole on its event loop): then it is refreshed every 5 s rather than every second.
const MANY_TUBES = 500;

function token() { return sessionStorage.getItem("synq-token") || ""; }

// Who the API calls run as: a user logged in through the form (user, and the Basic header
// made from its password), or the browser's own credentials (a client certificate). In
// memory only.
const login = { user: null, basic: null, browserCredentials: false };

// An API refusal: status (401, 403, 429, ...), the server's error word and message.
class ApiError extends Error {
  constructor(status, word, message) {
    super(word ? word + (message ? ": " + message : "") : "HTTP " + status);
    this.status = status;
    this.word = word;
  }
}

function basicHeader(user, password) {
  const bytes = new TextEncoder().encode(user + ":" + password);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return "Basic " + btoa(bin);
}

async function api(path, body) {
  const headers = {}, sentBasic = login.basic;
  if (login.basic) headers["Authorization"] = login.basic;
  else if (token()) headers["Authorization"] = "Bearer " + token();
  const init = { headers, cache: "no-store", credentials: login.browserCredentials ? "same-origin" : "omit" };
  if (body !== undefined) {
    init.method = "POST";
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch("/api/" + path, init);
  } catch (e) {
    // Without the browser's credentials a TLS port that wants a client certificate refuses
    // the connection itself: try once more with them (only TLS has client certificates).
    if (login.browserCredentials || login.basic || location.protocol !== "https:") throw e;
    login.browserCredentials = true;
    return api(path, body);
  }
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (!res.ok) {
    const err = new ApiError(res.status, data && data.error, data && data.message);
    if (res.status === 401 || res.status === 429) askLogin(res, err, sentBasic);
    throw err;
  }
  return data;
}

// ---- logging in ----

// A 401 or 429: the form the server's challenge asks for (Basic: user and password; Bearer:
// the API token), with the reason in words. sentBasic: the credentials the refused request
// carried (a request sent before a new login must not log that one out).
function askLogin(res, err, sentBasic) {
  if (sentBasic !== login.basic) return;
  const challenge = (res.headers.get("WWW-Authenticate") || "").toLowerCase();
  const why = err.status === 429 ? "too many failed logins from this address: wait a minute, then log in again (429)"
    : err.word === "bad-auth" ? "wrong user name or password (401)"
      : sentBasic ? "the login was refused (401): " + err.message
        : "log in as a user of the server (401)";
  if (err.status === 429 || challenge.startsWith("basic")) {
    if (login.basic) logout(why);
    $("#login-form").hidden = false;
    $("#login-error").textContent = why;
  } else {
    $("#token-form").hidden = false; // a bearer token is wanted, or the one given is wrong
  }
}

function showLogin() {
  $("#who").hidden = !login.user;
  $("#who-name").textContent = login.user ? "user " + login.user : "";
}

function logout(why) {
  login.user = null;
  login.basic = null;
  $("#login-form").hidden = false;
  $("#login-error").textContent = why || "logged out";
  $("#tubes tbody").replaceChildren();
  $("#jobs tbody").replaceChildren();
  $("#tube-panel").hidden = true;
  state.tube = null;
  state.tubes = [];
  showLogin();
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
  } catch (e) { say("jobs: " + refusal(e), true); return; }
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

// An error in words: a 403 says that the user lacks the right, a 429 that logins are held.
function refusal(e) {
  if (!(e instanceof ApiError)) return e.message;
  if (e.status === 403) return "not allowed (403): " + e.message;
  if (e.status === 429) return "too many failed logins (429): wait a minute";
  if (e.status === 401) return "not logged in (401): " + e.message;
  return e.message;
}

async function act(path, body, done) {
  try {
    const r = await api(path, body);
    const n = r.kicked ?? r.flushed ?? r.moved;
    say(done + (n !== undefined && path !== "kick-job" ? ": " + n : ""));
  } catch (e) { say(path + ": " + refusal(e), true); }
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

// The server's figures (summary, history) need admin on every tube under --users: a user
// without it gets 403 for them and still sees its tubes.
function forbiddenIsNull(e) {
  if (e instanceof ApiError && e.status === 403) return null;
  throw e;
}

async function refreshAll() {
  try {
    const now = Date.now();
    const wantTubes = state.tubes.length < MANY_TUBES || now - state.tubesAt >= 5000;
    // The tubes first and alone: under --users a wrong password then costs one failed login
    // of the address's five a minute, not one per parallel request.
    const tubes = wantTubes ? await api("tubes") : null;
    const [sum, hist] = await Promise.all([api("summary").catch(forbiddenIsNull),
      api("history").catch(forbiddenIsNull)]);
    $("#conn").textContent = "live";
    $("#conn").className = "badge ok";
    showLogin();
    $("#figures-note").hidden = sum !== null;
    if (sum) renderSummary(sum);
    else $("#summary").replaceChildren();
    if (tubes) {
      state.tubes = tubes;
      state.tubesAt = now;
      renderTubes();
    }
    if (hist) renderHistory(hist);
  } catch (e) {
    const refused = e instanceof ApiError && (e.status === 401 || e.status === 429);
    $("#conn").textContent = refused ? "not logged in" : "offline: " + e.message;
    $("#conn").className = refused ? "badge warn" : "badge bad";
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
  $("#login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const user = $("#login-user").value, password = $("#login-password").value;
    $("#login-password").value = "";
    login.user = user;
    login.basic = basicHeader(user, password);
    $("#login-form").hidden = true;
    $("#login-error").textContent = "";
    state.tubesAt = 0;
    refresh();
  });
  $("#login-cert").addEventListener("click", () => {
    login.browserCredentials = true;
    $("#login-form").hidden = true;
    refresh();
  });
  $("#logout").addEventListener("click", () => logout("logged out"));
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
