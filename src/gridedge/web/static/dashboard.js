/* gridedge dashboard: plain JavaScript, no build step.
 *
 * Reads /api/status, /api/homes/{id}, /api/grid once, then follows /api/events (server-sent events:
 * `status`, `grid`, `home`). Commands go to the JSON API with the session cookie and the
 * anti-forgery header X-Gridedge-Request: 1. Data is put into the page with textContent only.
 * Charts use plotly.js from /vendor/plotly.min.js when it loaded; without it they say so.
 * When the server keeps its reads private (`/api/session` says `public_reads: false`, or a read
 * answers 401) the page shows the login dialog and reads nothing until someone logs in. A home owner
 * bound to one site (`user.site`) finds the controls of the other homes disabled.
 */
"use strict";

const state = { status: null, home: null, grid: null, user: null, view: "home", site: null, source: null,
  publicReads: true, locked: false };
const rendered = {};  // last data drawn per chart, to skip redrawing what did not change
const SVGNS = "http://www.w3.org/2000/svg";

// ------------------------------------------------------------------------------------------ helpers

function $(id) { return document.getElementById(id); }

function h(tag, attrs, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVGNS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || (v === false && !k.startsWith("data-"))) continue;
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k.startsWith("data-") || k.startsWith("aria-")) node.setAttribute(k, String(v));
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function fmtW(w) {
  if (w === null || w === undefined) return "–";
  const a = Math.abs(w);
  return a >= 1000 ? `${(w / 1000).toFixed(a >= 10000 ? 1 : 2)} kW` : `${Math.round(w)} W`;
}

function fmtS(s) {
  if (s === null || s === undefined) return "–";
  s = Math.max(0, Math.round(s));
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
  if (s >= 60) return s % 60 ? `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s` : `${s / 60} min`;
  return `${s} s`;
}

/* Times are shown as the site's wall clock. The views carry aware times, some in UTC ("Z") and
 * some in the site's own offset (plan, prices): the first explicit offset seen is taken as the
 * site's; until then the browser's own zone is used. */
let siteOffsetMin = null;
function offsetOf(iso) {
  const m = /([+-])(\d\d):(\d\d)$/.exec(iso || "");
  return m ? (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : null;
}
function learnOffset(isos) {
  for (const iso of isos) {
    const o = offsetOf(iso);
    if (o !== null) { siteOffsetMin = o; return; }
  }
}
/** "YYYY-MM-DDTHH:MM:SS" on the site's wall clock. */
function local(iso) {
  const ms = Date.parse(iso);
  const off = siteOffsetMin !== null ? siteOffsetMin : -new Date(ms).getTimezoneOffset();
  return new Date(ms + off * 60000).toISOString().slice(0, 19);
}
function hhmm(iso) { return iso ? local(iso).slice(11, 16) : "–"; }
/** For plotly, which has no time zones: the site's wall time without an offset. */
function wall(iso) { return local(iso).replace("T", " "); }
function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

let toastTimer = 0;
function toast(text, level = "info") {
  const t = $("toast");
  t.textContent = text;
  t.dataset.level = level;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 4000);
}

async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { "X-Gridedge-Request": "1" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const data = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) {
    const msg = (data && (data.message || (typeof data.detail === "string" ? data.detail : null))) || r.statusText;
    const err = new Error(msg);
    err.status = r.status;
    throw err;
  }
  return data;
}

async function command(method, path, body, done) {
  try {
    await api(method, path, body);
    if (done) toast(done);
  } catch (e) {
    if (e.status === 401) { setUser(null); if (state.publicReads) openLogin(); else lock(); }
    toast(e.message, "error");
  }
}

// ------------------------------------------------------------------------------------- login, roles

const ROLE_NAMES = { "home-owner": "home owner", "installer": "installer", "grid-operator": "grid operator" };

function allowed(roles) {
  if (!state.user) return false;
  return roles === "any" || roles.split(" ").includes(state.user.role);
}

function hintFor(roles) {
  if (roles === "any") return "Log in first";
  return `Log in as ${roles.split(" ").map((r) => ROLE_NAMES[r] || r).join(" or ")}`;
}

/** Whether the logged-in user may act on `site` (a home owner may be bound to one site). */
function siteAllowed(site) {
  return !site || !state.user || !state.user.site || state.user.site === site;
}

function applyRoles(root = document) {
  for (const el of root.querySelectorAll("[data-roles]")) {
    const byRole = allowed(el.dataset.roles);
    const ok = byRole && siteAllowed(el.dataset.site);
    el.disabled = !ok;
    if (ok) el.removeAttribute("title");
    else el.title = byRole ? `${state.user.name} may act on ${state.user.site} only` : hintFor(el.dataset.roles);
  }
  for (const el of root.querySelectorAll("[data-role-hint]")) el.hidden = allowed(el.dataset.roleHint);
  const hint = $("site-hint");
  const elsewhere = !!(state.user && state.user.site && state.home && state.home.site_id !== state.user.site);
  hint.hidden = !elsewhere;
  hint.textContent = elsewhere ? `${state.user.name} may act on ${state.user.site} only` : "";
}

function setUser(user) {
  state.user = user;
  $("user-name").textContent = user ? `${user.name} · ${ROLE_NAMES[user.role] || user.role}` : "";
  $("user-name").dataset.role = user ? user.role : "";
  $("login-button").hidden = !!user;
  $("logout-button").hidden = !user;
  applyRoles();
}

function openLogin() {
  $("login-error").hidden = true;
  const d = $("login-dialog");
  if (!d.open) d.showModal();
  $("login-name").focus();
}

async function login(ev) {
  ev.preventDefault();
  const form = ev.target;
  try {
    const user = await api("POST", "/api/login", { name: form.name.value.trim(), password: form.password.value });
    form.password.value = "";
    $("login-dialog").close();
    setUser(user);
    toast(`Logged in as ${user.name}`);
    if (state.locked) await loadViews();
  } catch (e) {
    $("login-error").textContent = e.status === 401 ? "Unknown user or wrong password" : e.message;
    $("login-error").hidden = false;
  }
}

async function logout() {
  await api("POST", "/api/logout").catch(() => null);
  setUser(null);
  if (!state.publicReads) location.reload();  // what this user was shown is not for the next one
}

/** Reads need a login here: stop the live updates and ask for one. */
function lock() {
  state.locked = true;
  if (state.source) { state.source.close(); state.source = null; }
  const conn = $("connection-state");
  conn.dataset.state = "login";
  conn.textContent = "log in to see";
  openLogin();
}

/** The views once, then the live updates (or the login dialog when reads answer 401). */
async function loadViews() {
  let status = null;
  try {
    status = await api("GET", "/api/status");
  } catch (e) {
    if (e.status === 401) { setUser(null); lock(); return; }
  }
  state.locked = false;
  if (status) renderStatus(status);
  route();
  const reads = [api("GET", "/api/grid").then(renderGrid)];
  if (state.site) reads.push(api("GET", `/api/homes/${encodeURIComponent(state.site)}`).then(renderHome));
  await Promise.allSettled(reads);
}

/** The event stream closed for good (e.g. a 401 once the session ended): lock if reads are private. */
async function recheck() {
  const session = await api("GET", "/api/session").catch(() => null);
  if (session && !session.user && !session.public_reads) { setUser(null); lock(); }
}

// --------------------------------------------------------------------------------------- navigation

function route() {
  const [, view, site] = (location.hash || "#/home").split("/");
  state.view = view === "grid" ? "grid" : "home";
  if (site) state.site = decodeURIComponent(site);
  $("view-home").hidden = state.view !== "home";
  $("view-grid").hidden = state.view !== "grid";
  $("nav-home").setAttribute("aria-current", state.view === "home" ? "page" : "false");
  $("nav-grid").setAttribute("aria-current", state.view === "grid" ? "page" : "false");
  if (state.status && (!state.site || !state.status.homes.includes(state.site))) state.site = state.status.homes[0];
  if (state.site && $("home-select").value !== state.site) $("home-select").value = state.site;
  $("nav-home").href = state.site ? `#/home/${encodeURIComponent(state.site)}` : "#/home";
  connect();
  drawCharts();
}

function connect() {
  if (state.locked) return;
  const want = state.site ? `/api/events?site=${encodeURIComponent(state.site)}` : "/api/events";
  if (state.source && state.source.url.endsWith(want)) return;
  if (state.source) state.source.close();
  const es = new EventSource(want);
  state.source = es;
  const conn = $("connection-state");
  es.onopen = () => { conn.dataset.state = "live"; conn.textContent = "live"; };
  es.onerror = () => {
    conn.dataset.state = "offline";
    conn.textContent = "reconnecting";
    if (es.readyState === EventSource.CLOSED && state.source === es) recheck();
  };
  es.addEventListener("status", (e) => renderStatus(JSON.parse(e.data)));
  es.addEventListener("grid", (e) => renderGrid(JSON.parse(e.data)));
  es.addEventListener("home", (e) => {
    const home = JSON.parse(e.data);
    if (home.site_id === state.site) renderHome(home);
  });
}

// ------------------------------------------------------------------------------------------- status

// A device's power as the power-flow card shows it: what it delivers is positive, with a word
// (PV produces, a battery or a car discharges); what it draws is plain.
function devicePower(d) {
  if (d.power_w >= -10) return fmtW(Math.max(0, d.power_w));
  const verb = d.kind === "pv" ? "producing" : d.kind === "battery" || d.kind === "ev" ? "discharging" : "delivering";
  return `${fmtW(-d.power_w)} ${verb}`;
}

function renderStatus(s) {
  state.status = s;
  $("sim-clock").textContent = hhmm(s.now);
  $("sim-clock").title = s.now;
  $("sim-speed").textContent = `${s.speed}×`;
  noteClock(s);
  renderLag(s.lag_s ?? 0, s.speed);
  const sel = $("speed-select");
  if (![...sel.options].some((o) => Number(o.value) === s.speed)) sel.append(h("option", { value: s.speed, text: `${s.speed}×` }));
  if (document.activeElement !== sel) sel.value = String([...sel.options].find((o) => Number(o.value) === s.speed).value);
  // a real site (`gridedge run`) has no storyline and runs at the wall clock's pace
  $("story-bar").hidden = s.story.length === 0;
  const steps = $("story-steps");
  const keys = s.story.map((x) => `${x.key}:${x.done}:${(x.roles || []).join("+")}`).join(",");
  if (steps.dataset.keys !== keys) {
    steps.dataset.keys = keys;
    steps.replaceChildren(...s.story.map((x) => h("button", {
      type: "button", class: "btn story", "data-testid": `story-${x.key}`, "data-roles": x.roles && x.roles.length ? x.roles.join(" ") : "any",
      "data-done": x.done, title: x.label, onclick: () => command("POST", `/api/demo/story/${encodeURIComponent(x.key)}`,
        undefined, `${x.label}: playing now`),
    }, h("span", { class: "at", text: x.at }), h("span", { class: "label", text: x.label }))));
    applyRoles(steps);
  }
  const homes = $("home-select");
  if (homes.dataset.homes !== s.homes.join(",")) {
    homes.dataset.homes = s.homes.join(",");
    homes.replaceChildren(...s.homes.map((id) => h("option", { value: id, text: id })));
  }
  if (!state.site) {
    const own = state.user && state.user.site;
    state.site = own && s.homes.includes(own) ? own : s.homes[0];
    route();
  }
  if (homes.value !== state.site) homes.value = state.site;
}

/* The world reports how far simulated time is behind the requested speed (`lag_s`, simulated
 * seconds). Shown when it exceeds LAG_SHOW_S and LAG_SHOW_WALL_S of wall time at the speed asked
 * (at 60x the pacing loop is routinely a few simulated seconds, a tenth of a wall second, behind),
 * and kept for LAG_HOLD_MS after it falls back, so that a machine that keeps losing and catching
 * up does not make it blink. */
const LAG_SHOW_S = 3;
const LAG_SHOW_WALL_S = 1;
const LAG_HOLD_MS = 5000;
let lagSeenAt = -Infinity;

function renderLag(lag, speed) {
  const el = $("sim-lag");
  const now = performance.now();
  if (lag > Math.max(LAG_SHOW_S, speed * LAG_SHOW_WALL_S)) {
    lagSeenAt = now;
    el.textContent = `${fmtS(lag)} behind`;
    el.title = "Simulated time is behind the requested speed: this machine cannot run the world that fast";
    el.dataset.s = String(Math.round(lag));
  }
  el.hidden = now - lagSeenAt > LAG_HOLD_MS;
}

/* Between two updates the countdowns (heartbeat age, failsafe in, limit ends in) run on the
 * simulated clock: at the rate the status events showed it moving (never above the speed asked),
 * for at most TICK_MAX_MS after the last status, and not at all while the clock stands still or the
 * stream is down. An update always shows the server's values again. */
const TICK_MS = 250;
const TICK_MAX_MS = 1000;
const simClock = { at: null, wall: 0, rate: 0 };

function noteClock(s) {
  const at = Date.parse(s.now);
  const wall = performance.now();
  if (simClock.at !== null && at > simClock.at && wall > simClock.wall) {
    simClock.rate = Math.min(s.speed, (at - simClock.at) / (wall - simClock.wall));
  } else {
    simClock.rate = 0;  // the first status, a clock that stood still or went back (a new world)
  }
  simClock.at = at;
  simClock.wall = wall;
}

/** Simulated seconds between the views' time `iso` and now, as the browser estimates it (>= 0). */
function simSince(iso) {
  if (simClock.at === null || !state.source || state.source.readyState !== EventSource.OPEN) return 0;
  const wall = Math.min(performance.now() - simClock.wall, TICK_MAX_MS);
  const now = simClock.at + simClock.rate * wall;
  return Math.max(0, (now - Date.parse(iso)) / 1000);
}

function tickCountdowns() {
  if (state.home) renderCountdowns(state.home.limit, simSince(state.home.now));
  if (state.status) renderLag(state.status.lag_s ?? 0, state.status.speed);
}

// --------------------------------------------------------------------------------------------- home

const ICONS = {
  grid: "M-7 9 L0 -10 L7 9 M-9 -4 H9 M-5 3 H5",
  pv: "M-9 -3 H9 L6 8 H-6 Z M-8 2.5 H8 M0 -3 V8 M-4 -10 L-3 -7 M4 -10 L3 -7 M0 -11 V-8",
  battery: "M-6 -8 H6 V10 H-6 Z M-2.5 -10 H2.5 M-3 1 H3",
  ev: "M-10 4 V-1 L-6 -7 H6 L10 -1 V4 Z M-6 4 V7 M6 4 V7 M-10 -1 H10",
  heat_pump: "M-10 -8 H10 V8 H-10 Z M0 0 m-5 0 a5 5 0 1 0 10 0 a5 5 0 1 0 -10 0 M0 -5 V5 M-5 0 H5",
  house: "M-10 0 L0 -9 L10 0 M-7 -2 V9 H7 V-2 M-2 9 V3 H2 V9",
};
// node key, label, colour variable, position, sign: +1 when a positive value flows *to* the house
const NODES = [
  ["pv", "Solar", "--pv", 180, 48, 1],
  ["grid", "Grid", "--grid", 48, 150, 1],
  ["house", "House", "--house", 312, 150, -1],
  ["battery", "Battery", "--battery", 70, 262, -1],
  ["heat_pump", "Heat pump", "--hp", 180, 262, -1],
  ["ev", "EV", "--ev", 290, 262, -1],
];
const FLOW_KEYS = { pv: "pv_w", grid: "grid_w", house: "house_w", battery: "battery_w", heat_pump: "heat_pump_w", ev: "ev_w" };
const TEST_IDS = { pv: "pv-power", grid: "grid-power", house: "house-power", battery: "battery-power",
  heat_pump: "heat-pump-power", ev: "ev-power" };

function buildFlow() {
  const svg = h("svg:svg", { viewBox: "0 0 360 322", role: "img", "aria-label": "Power flow" });
  for (const [key, , color, x, y] of NODES) {
    svg.append(h("svg:path", { class: "link", id: `link-${key}`, d: `M${x} ${y} L180 150`, stroke: css(color),
      "data-testid": `link-${key}` }));
  }
  svg.append(h("svg:circle", { class: "hub", cx: 180, cy: 150, r: 4 }));
  for (const [key, label, color, x, y] of NODES) {
    const c = css(color);
    svg.append(h("svg:g", { class: "node", transform: `translate(${x} ${y})`, "data-testid": `node-${key}` },
      h("svg:circle", { r: 34, stroke: c }),
      h("svg:path", { class: "icon", d: ICONS[key], stroke: c, transform: "translate(0 -13) scale(0.85)" }),
      h("svg:text", { class: "value", y: 9, id: `val-${key}`, "data-testid": TEST_IDS[key], text: "–" }),
      h("svg:text", { class: "label", y: 22, id: `soc-${key}`,
        "data-testid": key === "battery" ? "battery-soc" : key === "ev" ? "ev-soc" : null, text: "" }),
      h("svg:text", { class: "label", y: y > 200 ? 50 : -40, text: label })));
  }
  $("flow").replaceChildren(svg);
}

function renderFlow(flow) {
  if (!$("val-grid")) buildFlow();
  for (const [key, , , , , sign] of NODES) {
    const w = flow[FLOW_KEYS[key]];
    const value = $(`val-${key}`);
    value.textContent = fmtW(key === "grid" || key === "battery" ? Math.abs(w) : w);
    value.dataset.w = String(w);
    const link = $(`link-${key}`);
    const active = Math.abs(w) >= 10;
    link.dataset.active = String(active);
    link.dataset.dir = sign * w > 0 ? "in" : "out";
    link.setAttribute("stroke-width", String(active ? 2 + Math.min(4, Math.abs(w) / 2500) : 2));
    let direction = "idle";
    if (active && key === "grid") direction = w > 0 ? "import" : "export";
    else if (active && key === "battery") direction = w > 0 ? "charging" : "discharging";
    else if (active) direction = sign > 0 ? "producing" : "consuming";
    value.dataset.direction = direction;
  }
  $("soc-grid").textContent = $("val-grid").dataset.direction === "idle" ? "" : $("val-grid").dataset.direction;
  $("soc-battery").textContent = flow.battery_soc === null ? "" : `${Math.round(flow.battery_soc * 100)} %`;
  $("soc-ev").textContent = flow.ev_soc === null ? "" : `${Math.round(flow.ev_soc * 100)} %`;
  const g = flow.grid_w;
  const summary = $("grid-direction");
  summary.dataset.direction = Math.abs(g) < 10 ? "idle" : g > 0 ? "import" : "export";
  summary.textContent = Math.abs(g) < 10 ? "Balanced with the grid"
    : g > 0 ? `Importing ${fmtW(g)} from the grid` : `Exporting ${fmtW(-g)} to the grid`;
}

function renderLimit(limit, flow) {
  const badge = $("limit-state");
  badge.textContent = limit.state;
  badge.dataset.state = limit.state;
  $("home-import-limit").textContent = limit.import_limit_w === null ? "none" : fmtW(limit.import_limit_w);
  $("home-import-limit").dataset.w = limit.import_limit_w === null ? "" : String(limit.import_limit_w);
  $("home-export-limit").textContent = limit.export_limit_w === null ? "none" : fmtW(limit.export_limit_w);
  renderCountdowns(limit, 0);
  const bar = $("limit-usage");
  if (limit.import_limit_w) {
    const used = Math.max(0, flow.grid_w) / limit.import_limit_w;
    bar.style.width = `${Math.min(100, used * 100)}%`;
    bar.dataset.level = used > 1 ? "alarm" : used > 0.9 ? "warning" : "";
  } else {
    bar.style.width = "0";
  }
}

/** The limit's countdowns, `dt` simulated seconds after the view's time. */
function renderCountdowns(limit, dt) {
  const later = (s, sign) => (s === null || s === undefined ? null : Math.max(0, s + sign * dt));
  const age = later(limit.heartbeat_age_s, 1);
  const failsafe = later(limit.failsafe_in_s, -1);
  $("heartbeat-age").textContent = age === null ? "never" : `${fmtS(age)} ago`;
  $("failsafe-in").textContent = fmtS(failsafe);
  $("failsafe-in").dataset.level = failsafe !== null && failsafe < 60 ? "warning" : "";
  $("limit-ends-in").textContent = fmtS(later(limit.limit_ends_in_s, -1));
}

function renderHome(home) {
  state.home = home;
  const before = siteOffsetMin;
  learnOffset([home.now, ...home.prices.slice(0, 1).map((p) => p.start), ...home.plan.slice(0, 1).map((p) => p.start)]);
  if (siteOffsetMin !== before) {  // the clocks drawn so far were in the browser's zone
    if (state.status) renderStatus(state.status);
    if (state.grid) renderGrid(state.grid);
  }
  $("home-name").textContent = home.name;
  renderFlow(home.flow);
  renderLimit(home.limit, home.flow);
  $("peak-quarter").textContent = fmtW(home.peak.quarter_kw * 1000);
  $("peak-month").textContent = fmtW(home.peak.month_peak_kw * 1000);
  const share = home.peak.month_peak_kw > 0 ? home.peak.quarter_kw / home.peak.month_peak_kw : 0;
  $("peak-usage").style.width = `${Math.min(100, share * 100)}%`;
  $("peak-usage").dataset.level = share >= 1 ? "alarm" : share > 0.9 ? "warning" : "";

  $("devices").replaceChildren(...(home.devices.length ? home.devices.map((d) => h("li", {
    "data-testid": `device-row-${d.device_id}`, "data-online": d.online,
  },
  h("span", { class: "name" }, h("span", { class: "dot", "data-on": d.online, title: d.online ? "online" : "offline" }),
    `${d.device_id}`),
  h("span", { class: "power", "data-testid": `device-power-${d.device_id}`, "data-w": d.power_w, text: devicePower(d) }),
  h("label", { class: "switch" }, h("input", {
    type: "checkbox", checked: d.managed, "data-testid": `managed-toggle-${d.device_id}`,
    "data-roles": "home-owner installer", "data-site": home.site_id, "aria-label": `Energy manager steers ${d.device_id}`,
    onchange: (e) => command("POST", `/api/homes/${encodeURIComponent(home.site_id)}/devices/${encodeURIComponent(d.device_id)}/managed`,
      { managed: e.target.checked }, `${d.device_id}: ${e.target.checked ? "managed" : "parked"}`),
  }), "managed"),
  h("span", { class: "sub", text: `${d.kind.replace("_", " ")}${d.setpoint_w === null ? "" : ` · setpoint ${fmtW(d.setpoint_w)}`}` }),
  )) : [h("li", { class: "empty", text: "No devices" })]));

  $("nilm-absent").hidden = home.has_nilm;
  const maxP = Math.max(1, ...home.appliances.map((a) => a.power_w));
  $("appliances").replaceChildren(...home.appliances.map((a) => h("li", {
    "data-testid": `appliance-row-${a.appliance_id}`, "data-on": a.on,
  },
  h("span", { class: "name" }, h("span", { class: "dot", "data-on": a.on }), a.label),
  h("span", { class: "power", text: fmtW(a.power_w) }),
  h("button", { type: "button", class: "btn ghost", "data-testid": `appliance-label-${a.appliance_id}`,
    "data-roles": "home-owner installer", "data-site": home.site_id, onclick: () => openLabel(home.site_id, a) },
  "Rename"),
  h("span", { class: "sub", text: `${a.energy_today_kwh.toFixed(2)} kWh today` }),
  h("div", { class: "share" }, h("div", { style: `width:${(100 * a.power_w / maxP).toFixed(1)}%` })),
  )));

  renderNotes($("notifications"), home.notifications, (n, i) => h("li", {
    "data-level": n.level, "data-testid": `notification-${i}`,
  }, h("time", { datetime: n.at, text: hhmm(n.at) }), n.text), "No notifications");
  applyRoles($("view-home"));
  drawCharts();
}

function renderNotes(list, items, make, empty) {
  list.replaceChildren(...(items.length ? items.map(make) : [h("li", { class: "empty", text: empty })]));
}

let labelTarget = null;
function openLabel(siteId, appliance) {
  labelTarget = { siteId, id: appliance.appliance_id };
  $("label-input").value = appliance.label;
  $("label-dialog").showModal();
}

// --------------------------------------------------------------------------------------------- grid

function renderGrid(grid) {
  state.grid = grid;
  $("grid-now").textContent = `as of ${hhmm(grid.now)}`;
  $("site-count").textContent = String(grid.sites.length);
  $("active-limits").textContent = String(grid.sites.filter((s) => s.import_limit_w !== null).length);
  $("heartbeat-state").textContent = grid.heartbeat_enabled ? "on" : "stopped";
  $("heartbeat-state").dataset.enabled = String(grid.heartbeat_enabled);
  $("records-committed").textContent = grid.records_committed.toLocaleString("en");

  $("feeders").replaceChildren(...grid.feeders.map((f) => {
    // a feeder that exports (PV at noon) loads its cable too: the share is of the flow either way
    const share = f.capacity_w > 0 ? Math.abs(f.load_w) / f.capacity_w : 0;
    const flow = f.load_w < 0 ? `${fmtW(-f.load_w)} export` : fmtW(f.load_w);
    return h("div", { class: "feeder", "data-testid": `feeder-${f.feeder_id}` },
      h("div", { class: "line" }, h("strong", { text: `Feeder ${f.feeder_id}` }),
        h("span", { "data-testid": `feeder-load-${f.feeder_id}`, "data-w": f.load_w,
          text: `${flow} of ${fmtW(f.capacity_w)} (${Math.round(share * 100)} %)` })),
      h("div", { class: "meter-bar" }, h("div", { class: "meter-fill", style: `width:${Math.min(100, share * 100)}%`,
        "data-level": share > 1 ? "alarm" : share > 0.85 ? "warning" : "" })));
  }));

  $("sites-body").replaceChildren(...grid.sites.map((s) => {
    const fresh = s.data_age_s === null ? "none" : s.data_age_s > 600 ? "stale" : "fresh";
    return h("tr", { "data-testid": `site-row-${s.site_id}`, "data-state": s.limit_state,
      onclick: () => { location.hash = `#/home/${encodeURIComponent(s.site_id)}`; } },
    h("td", {}, h("span", { class: "site-name", text: s.name }), h("br"), h("span", { class: "muted small", text: s.site_id }),
      s.has_nilm ? h("span", { class: "badge", text: "S1", title: "appliance recognition" }) : null),
    h("td", { text: s.feeder_id }),
    h("td", { class: "num", "data-testid": `site-power-${s.site_id}`, text: s.grid_w === null ? "–" : fmtW(s.grid_w) }),
    h("td", { "data-testid": `site-limit-${s.site_id}` }, h("span", { class: "badge", "data-state": s.limit_state,
      text: s.limit_state }), s.import_limit_w === null ? null : ` ${fmtW(s.import_limit_w)}`),
    h("td", { class: "num", "data-testid": `site-age-${s.site_id}`, "data-fresh": fresh,
      text: s.data_age_s === null ? "no data" : `${fmtS(s.data_age_s)}` }));
  }));

  for (const [id, withAll] of [["limit-site", false], ["heartbeat-sites", true]]) {
    const sel = $(id);
    const ids = grid.sites.map((s) => s.site_id).join(",");
    if (sel.dataset.ids === ids) continue;
    const keep = sel.value;
    sel.dataset.ids = ids;
    sel.replaceChildren(...(withAll ? [h("option", { value: "", text: "all sites" })] : []),
      ...grid.sites.map((s) => h("option", { value: s.site_id, text: `${s.site_id} · ${s.name}` })));
    if (keep) sel.value = keep;
  }

  renderNotes($("limits-list"), grid.limits, (l, i) => h("li", { "data-testid": `limit-${i}`, "data-level": l.limit_w === null ? "info" : "warning" },
    h("time", { datetime: l.at, text: `${hhmm(l.at)} · ${l.by}` }),
    `${l.site_id}: ${l.limit_w === null ? `${l.direction} limit lifted` : `${l.direction} ≤ ${fmtW(l.limit_w)}`}`
    + (l.duration_s ? ` for ${fmtS(l.duration_s)}` : "")), "No limits issued");
  renderNotes($("alarms-list"), grid.alarms, (a, i) => h("li", { "data-testid": `alarm-${i}`, "data-level": a.level, "data-kind": a.kind },
    h("time", { datetime: a.at, text: `${hhmm(a.at)} · ${a.kind === "wan" ? "WAN" : "security"} · ${a.site_id}` }),
    a.text), "No alarms");
  drawCharts();
}

// ------------------------------------------------------------------------------------------- charts

function chart(id, traces, layout) {
  const el = $(id);
  if (typeof Plotly === "undefined") {
    if (!el.querySelector(".fallback")) el.replaceChildren(h("p", { class: "fallback", text: "Charts need plotly.js (/vendor/plotly.min.js), which did not load." }));
    return;
  }
  if (el.offsetParent === null) return;  // hidden view: drawn when shown
  const key = JSON.stringify(traces) + JSON.stringify(layout.shapes || []);
  if (rendered[id] === key) return;
  rendered[id] = key;
  const text = css("--text"), muted = css("--muted"), line = css("--line");
  Plotly.react(el, traces, {
    margin: { l: 44, r: 10, t: 8, b: 36 }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
    font: { color: text, size: 11 }, showlegend: true, legend: { orientation: "h", y: -0.2, font: { color: muted } },
    xaxis: { gridcolor: line, tickformat: "%H:%M", fixedrange: true },
    yaxis: { gridcolor: line, zerolinecolor: muted, fixedrange: true, ...layout.yaxis },
    shapes: layout.shapes || [], bargap: 0.1,
  }, { displayModeBar: false, responsive: true });
}

function nowLine(iso) {
  return { type: "line", xref: "x", yref: "paper", x0: wall(iso), x1: wall(iso), y0: 0, y1: 1,
    line: { color: css("--muted"), width: 1, dash: "dot" } };
}

function drawCharts() {
  const home = state.home, grid = state.grid;
  if (state.view === "home" && home) {
    chart("plan-chart", [
      { x: home.plan.map((p) => wall(p.start)), y: home.plan.map((p) => p.actual_grid_w === null ? null : p.actual_grid_w / 1000),
        type: "bar", name: "measured", marker: { color: css("--grid") }, hovertemplate: "%{y:.2f} kW<extra>measured</extra>" },
      { x: home.plan.map((p) => wall(p.start)), y: home.plan.map((p) => p.planned_grid_w / 1000), type: "scatter",
        mode: "lines", line: { shape: "hv", color: css("--pv"), width: 2 }, name: "plan",
        hovertemplate: "%{y:.2f} kW<extra>plan</extra>" },
    ], { yaxis: { title: { text: "grid kW" } }, shapes: [nowLine(home.now)] });
    chart("price-chart", [
      { x: home.prices.map((p) => wall(p.start)), y: home.prices.map((p) => p.import_eur_per_kwh), type: "scatter",
        mode: "lines", line: { shape: "hv", color: css("--grid"), width: 2 }, name: "import", fill: "tozeroy",
        fillcolor: "rgba(72,143,194,0.15)", hovertemplate: "€%{y:.3f}/kWh<extra>import</extra>" },
      { x: home.prices.map((p) => wall(p.start)), y: home.prices.map((p) => p.export_eur_per_kwh), type: "scatter",
        mode: "lines", line: { shape: "hv", color: css("--ev"), width: 2 }, name: "export",
        hovertemplate: "€%{y:.3f}/kWh<extra>export</extra>" },
    ], { yaxis: { title: { text: "€/kWh" } }, shapes: [nowLine(home.now)] });
  }
  if (state.view === "grid" && grid) {
    const colors = [css("--grid"), css("--pv"), css("--ev"), css("--hp"), css("--battery")];
    const traces = [];
    const shapes = [];
    grid.feeders.forEach((f, i) => {
      const color = colors[i % colors.length];
      traces.push({ x: f.history.map((p) => wall(p.at)), y: f.history.map((p) => p.load_w / 1000), type: "scatter",
        mode: "lines", name: `feeder ${f.feeder_id}`, line: { color, width: 2 },
        hovertemplate: "%{y:.1f} kW<extra>%{fullData.name}</extra>" });
      shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, y0: f.capacity_w / 1000, y1: f.capacity_w / 1000,
        line: { color, width: 1, dash: "dash" } });
    });
    chart("feeder-chart", traces, { yaxis: { title: { text: "load kW" }, rangemode: "tozero" }, shapes });
  }
}

// ------------------------------------------------------------------------------------------- wiring

function wire() {
  $("login-button").addEventListener("click", openLogin);
  $("logout-button").addEventListener("click", logout);
  $("login-form").addEventListener("submit", login);
  $("login-cancel").addEventListener("click", () => $("login-dialog").close());
  $("label-cancel").addEventListener("click", () => $("label-dialog").close());
  $("label-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    $("label-dialog").close();
    if (!labelTarget) return;
    const { siteId, id } = labelTarget;
    command("POST", `/api/homes/${encodeURIComponent(siteId)}/appliances/${encodeURIComponent(id)}/label`,
      { label: $("label-input").value.trim() }, "Label saved");
  });
  $("home-select").addEventListener("change", (e) => { location.hash = `#/home/${encodeURIComponent(e.target.value)}`; });
  $("speed-select").addEventListener("change", (e) => command("POST", "/api/demo/speed", { speed: Number(e.target.value) },
    `Speed ${e.target.value}×`));
  $("speed-form").addEventListener("submit", (ev) => ev.preventDefault());
  $("issue-limit-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const minutes = f.duration.value === "" ? null : Number(f.duration.value);
    command("POST", `/api/grid/sites/${encodeURIComponent(f.site.value)}/limit`,
      { import_w: Number(f.import_w.value), duration_s: minutes === null ? null : minutes * 60 },
      `Limit of ${fmtW(Number(f.import_w.value))} sent to ${f.site.value}`);
  });
  $("clear-limit-button").addEventListener("click", () => {
    const site = $("limit-site").value;
    command("DELETE", `/api/grid/sites/${encodeURIComponent(site)}/limit`, undefined, `Limit of ${site} lifted`);
  });
  const sites = () => ($("heartbeat-sites").value ? { sites: [$("heartbeat-sites").value] } : undefined);
  $("heartbeat-stop").addEventListener("click", () => command("POST", "/api/grid/heartbeat/stop", sites(), "Heartbeats stopped"));
  $("heartbeat-resume").addEventListener("click", () => command("POST", "/api/grid/heartbeat/resume", sites(), "Heartbeats resumed"));
  window.addEventListener("hashchange", route);
  window.addEventListener("resize", () => { for (const k of Object.keys(rendered)) delete rendered[k]; drawCharts(); });
}

async function start() {
  wire();
  setInterval(tickCountdowns, TICK_MS);
  applyRoles();
  const session = await api("GET", "/api/session").catch(() => null);
  state.publicReads = !session || session.public_reads !== false;
  setUser(session ? session.user : null);
  if (!state.publicReads && !state.user) {  // nothing to read before a login: no 401s to provoke
    lock();
    route();
    return;
  }
  await loadViews();
}

document.addEventListener("DOMContentLoaded", () => { start().catch((e) => toast(String(e), "error")); });
