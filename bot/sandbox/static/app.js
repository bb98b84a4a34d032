// Fireline sandbox page: renders the emulated Slack workspace and acts through the sandbox API.
// Vanilla JS, no build step. Live: one Server-Sent Events stream; each event triggers a redraw.
"use strict";

const $ = (id) => document.getElementById(id);
const SEEN_KEY = `fireline.seen.${document.querySelector('meta[name="sandbox-token"]').content}`;
const ui = {
  as: localStorage.getItem("fireline.as") || "",
  channel: localStorage.getItem("fireline.channel") || "",
  thread: null,
  state: null,
  seen: JSON.parse(sessionStorage.getItem(SEEN_KEY) || "{}"),            // "person channel" -> others' messages they have seen (unread marks)
  loading: false,
  again: false,
  clockBase: null,     // [sandbox ms, wall ms]
  link: "offline",     // live | down | restarted: see "talking to the sandbox"
  source: null,
};

// ---------------------------------------------------------------- helpers
function toast(text) {
  const t = $("toast"); t.textContent = text; t.hidden = false;
  clearTimeout(toast.timer); toast.timer = setTimeout(() => { t.hidden = true; }, 5000);
}
// Message timestamps are Slack's (wall clock); shown in sandbox time, like everything the bot
// writes, so at --speed 20 a reply 3 s later shows as 1 min later.
function sandboxMs(wallMs) {
  const c = ui.state && ui.state.clock;
  return c ? c.origin * 1000 + (wallMs - c.wall * 1000) * c.speed : wallMs;
}
function fmtTs(ts) {
  return new Date(sandboxMs(parseFloat(ts) * 1000)).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}
function ago(ms) {
  const minutes = Math.round((nowMs() - ms) / 60000);
  if (minutes < 1) return "just now";
  if (minutes < 60) return `${minutes} min ago`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min ago`;
}
function nowMs() {
  if (!ui.clockBase) return Date.now();
  const [base, wall] = ui.clockBase;
  return base + (Date.now() - wall) * ui.state.speed;
}
function dateToken(epoch, fmt, fallback) {
  const d = new Date(parseInt(epoch, 10) * 1000);
  if (isNaN(d)) return fallback;
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const date = d.toLocaleDateString([], { month: "short", day: "numeric" });
  return fmt.replace(/\{time(_secs)?\}/g, time).replace(/\{date[a-z_]*\}/g, date).replace(/\{ago\}/g, ago(d.getTime()));
}

// ---------------------------------------------------------------- messages
function renderMessage(m, { ephemeral = false, inThread = false } = {}) {
  const st = ui.state;
  const who = m.bot_id || m.user === st.bot ? "Fireline" : (st.users[m.user] || m.user || "Fireline");
  const node = el("div", { class: `msg${ephemeral ? " ephemeral" : ""}`, "data-ts": m.ts },
    el("span", { class: "who" }, who), el("span", { class: "when" }, fmtTs(m.ts)),
    m.pinned_to ? el("span", { class: "pinned" }, "📌 pinned") : null);
  const ctx = { channel: st.channel, ts: m.ts };
  if (m.blocks && m.blocks.length) node.append(...renderBlocks(m.blocks, ctx));
  else node.append(el("div", { html: mrkdwn(m.text) }));
  for (const f of m.files || []) {
    node.append(el("div", { class: "file" }, el("a", { href: `/sandbox/files/${f.id}`, target: "_blank" }, `📎 ${f.title || f.name}`)));
  }
  if (m.reactions) node.append(el("div", { class: "small" }, m.reactions.map((r) => `:${r.name}: ${r.count} `)));
  if (ephemeral) node.append(el("div", { class: "note" }, "Only visible to you"));
  if (!inThread && m.reply_count) {
    node.append(el("button", { class: "replies", type: "button", onclick: () => openThread(m.ts) },
      `${m.reply_count} ${m.reply_count === 1 ? "reply" : "replies"}`));
  }
  return node;
}

function render() {
  const st = ui.state;
  ui.channel = st.channel;
  $("team").textContent = st.team;
  const who = $("who");
  if (!who.options.length) {
    for (const p of st.people) who.append(el("option", { value: p.id }, `${p.name} — ${p.role}`));
  }
  who.value = ui.as;
  const me = st.people.find((p) => p.id === ui.as);
  $("role").textContent = me ? me.about : "";
  // channels: bold with a count of what others posted since this person last looked, as Slack
  // marks them; the one on screen is read.
  const list = $("channels"); list.replaceChildren();
  for (const c of st.channels) {
    const key = `${ui.as} ${c.id}`;
    if (c.id === st.channel) ui.seen[key] = c.count;
    const unread = Math.max(0, c.count - (ui.seen[key] || 0));
    const label = c.dm ? `@ ${c.name}` : `# ${c.name}`;
    const cls = [c.id === st.channel ? "current" : "", unread ? "unread" : ""].join(" ").trim();
    list.append(el("li", {}, el("a", { href: "#", "data-channel": c.name, class: cls || null,
      onclick: (ev) => { ev.preventDefault(); selectChannel(c.id); } }, label,
      unread ? el("span", { class: "badge", "aria-label": `${unread} unread` }, String(unread)) : null)));
  }
  sessionStorage.setItem(SEEN_KEY, JSON.stringify(ui.seen));
  const current = st.channels.find((c) => c.id === st.channel);
  $("channel-name").textContent = current ? `# ${current.name}` : "";
  $("channel-topic").innerHTML = current && current.topic ? mrkdwn(current.topic) : "";
  // messages and ephemerals, in time order
  const box = $("messages");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
  const items = st.messages.map((m) => ({ ts: m.ts, node: () => renderMessage(m) }))
    .concat(st.ephemerals.map((e) => ({ ts: e.ts, node: () => renderMessage({ ...e, bot_id: "B" }, { ephemeral: true }) })))
    .sort((a, b) => parseFloat(a.ts) - parseFloat(b.ts));
  box.replaceChildren(...items.map((i) => i.node()));
  if (atBottom || ui.justSwitched) box.scrollTop = box.scrollHeight;
  ui.justSwitched = false;
  // thread
  const pane = $("thread-pane");
  if (ui.thread && st.thread) {
    pane.hidden = false;
    $("thread").replaceChildren(...st.thread.messages.map((m) => renderMessage(m, { inThread: true })));
  } else {
    pane.hidden = true;
  }
  // alerts
  const alerts = $("alert-name");
  if (alerts.options.length !== st.alerts.length) {
    alerts.replaceChildren(...st.alerts.map((a) => el("option", { value: a }, a)));
  }
  $("cluster").textContent = st.cluster;
  renderDrill(st.drill);
  renderModal(st.views);
  ui.clockBase = [Date.parse(st.now), Date.now()];
}

// The drill panel: Start (drill time counts from the press), a link to the alert that started
// it, its clock (ticking between redraws, stopped at Finished) and what has happened so far.
function renderDrill(drill) {
  $("drill").hidden = !drill;
  ui.drill = drill;
  if (!drill) return;
  $("drill-status").innerHTML = mrkdwn(drill.text);
  $("drill-start").hidden = !drill.waiting;
  const link = $("drill-alert");
  link.hidden = !drill.alert;
  if (drill.alert) link.textContent = `🔔 Open the alert: ${drill.alert.name}`;
  ui.drillBase = [drill.elapsed, Date.now()];
  tickDrill();
}
function tickDrill() {
  const drill = ui.drill;
  if (!drill || !ui.drillBase) return;
  const running = !drill.waiting && !drill.finished;
  const s = Math.floor(ui.drillBase[0] + (running ? (Date.now() - ui.drillBase[1]) / 1000 * ui.state.speed : 0));
  const text = `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  $("drill-clock").textContent = drill.waiting ? "Not started" : drill.finished ? `Finished · ${text}` : `Drill time ${text}`;
}
function openAlert() {
  const alert = ui.drill && ui.drill.alert;
  if (!alert) return;
  ui.channel = alert.channel; ui.thread = alert.ts; ui.justSwitched = true;
  localStorage.setItem("fireline.channel", alert.channel);
  load();
}

// ---------------------------------------------------------------- modals
function closeModal() {
  if (ui.modalId) post("view", { view_id: ui.modalId, op: "close" });
}
function renderModal(views) {
  const back = $("modal-backdrop");
  const view = views && views.length ? views[views.length - 1] : null;
  if (!view) { back.hidden = true; ui.modalId = null; return; }
  if (ui.modalId === view.id && ui.modalHash === view.hash) return;  // keep what is typed
  ui.modalId = view.id; ui.modalHash = view.hash;
  const ctx = { view };
  const form = el("form", { id: "modal-form" },
    el("h2", {}, view.title.text), ...renderBlocks(view.blocks, ctx),
    el("div", { class: "buttons" },
      el("button", { type: "button", id: "modal-cancel", onclick: () => post("view", { view_id: view.id, op: "close" }) }, (view.close && view.close.text) || "Cancel"),
      view.submit ? el("button", { class: "primary", id: "modal-submit" }, view.submit.text) : null));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const values = {};
    for (const b of view.blocks.filter((x) => x.type === "input")) {
      const block = form.querySelector(`[data-block-id="${CSS.escape(b.block_id)}"]`);
      (values[b.block_id] = values[b.block_id] || {})[b.element.action_id] = inputValue(block, b.element);
    }
    const res = await post("view", { view_id: view.id, values });
    const errors = res && res.response && res.response.response_action === "errors" ? res.response.errors : null;
    form.querySelectorAll(".error").forEach((e) => { e.textContent = ""; });
    for (const [blockId, msg] of Object.entries(errors || {})) {
      const block = form.querySelector(`[data-block-id="${CSS.escape(blockId)}"] .error`);
      if (block) block.textContent = msg;
    }
  });
  $("modal").replaceChildren(form);
  back.hidden = false;
}

// ---------------------------------------------------------------- talking to the sandbox
// The sandbox answers only its own page: this run's token (in the page) goes with every request.
// The page belongs to the run that served it. The pill says which of three things is true:
// "live" (that run answers), "disconnected — retrying" (nothing answers: the sandbox was
// stopped; the event stream keeps trying), "restarted" (a new run answers and refuses this
// page's token: only a reload gets its page, so the page says so and offers one).
const TOKEN = { "X-Sandbox-Token": document.querySelector('meta[name="sandbox-token"]').content };
const NOT_RUNNING = "The sandbox is not running: start it again with `make run`, then reload this page.";
const RESTARTED = "The sandbox restarted: this page shows the run before it. Reload the page to use the new one.";
const LINK_TEXT = { live: "live", down: "disconnected — retrying", restarted: "restarted" };
function setLink(link) {
  if (ui.link === "restarted") return;  // final: this page's token will never work again
  ui.link = link;
  $("live").textContent = LINK_TEXT[link];
  $("live").classList.toggle("off", link !== "live");
  if (link !== "restarted") return;
  if (ui.source) ui.source.close();
  $("restarted").hidden = false;
}
// The answer of a sandbox run that does not know this page's token: a new run.
function refusesThisPage(res, data) {
  return res.status === 403 && data && data.reason === "token";
}
async function answerOf(res) {
  try { return await res.json(); } catch { return null; }
}
async function post(what, body) {
  if (ui.link === "restarted") { toast(RESTARTED); return null; }
  let res;
  try {
    res = await fetch(`/sandbox/api/${what}`, { method: "POST", headers: { "Content-Type": "application/json", ...TOKEN }, body: JSON.stringify({ as: ui.as, ...body }) });
  } catch {
    setLink("down");  // fetch rejects only when nothing answers at all
    toast(NOT_RUNNING);
    return null;
  }
  const data = await answerOf(res);
  if (refusesThisPage(res, data)) { setLink("restarted"); toast(RESTARTED); return null; }
  if (!data) toast(`The sandbox answered ${res.status} without saying why`);
  else if (!data.ok) toast(data.error);
  else if (data.status && data.status >= 400) toast(`Fireline answered ${data.status}`);
  return data;
}
async function action(payload, ctx) {
  const button = payload.button; delete payload.button;
  if (button) button.disabled = true;
  const where = ctx.view ? { view_id: ctx.view.id } : { channel: ctx.channel, ts: ctx.ts };
  await post("action", { ...payload, ...where });
  if (button) button.disabled = false;
}
async function load() {
  if (ui.loading) { ui.again = true; return; }
  ui.loading = true;
  try {
    const asked = { as: ui.as, channel: ui.channel, thread: ui.thread };
    const q = new URLSearchParams({ as: ui.as, channel: ui.channel });
    if (ui.thread) q.set("thread", ui.thread);
    let res;
    try {
      res = await fetch(`/sandbox/api/state?${q}`, { headers: TOKEN });
    } catch {
      setLink("down");
      return;
    }
    const state = await answerOf(res);
    // Only a state is drawn: a refusal drawn as one was "Sandbox time Invalid Date · ×undefined".
    if (refusesThisPage(res, state)) { setLink("restarted"); return; }
    if (!res.ok || !state || !state.people) {
      toast(`The sandbox did not send the workspace: ${(state && state.error) || res.status}`);
      return;
    }
    // The person switched channel, thread or identity while this was in flight: this answer
    // is for the old view; drawing it would undo their click. Ask again instead.
    if (asked.as !== ui.as || asked.channel !== ui.channel || asked.thread !== ui.thread) {
      ui.again = true;
      return;
    }
    ui.state = state;
    if (!ui.as || !ui.state.people.some((p) => p.id === ui.as)) ui.as = ui.state.people[0].id;
    render();
    setLink("live");
  } finally {
    ui.loading = false;
    if (ui.again) { ui.again = false; load(); }
  }
}
function selectChannel(id) {
  ui.channel = id; ui.thread = null; ui.justSwitched = true;
  localStorage.setItem("fireline.channel", id);
  load();
}
function openThread(ts) { ui.thread = ts; load(); }

// "live" is said by a state this run sent (load), not by the stream opening: the stream needs
// no token, so it opens on a restarted sandbox too; its first event makes the page load.
function live() {
  if (ui.link === "restarted") return;
  const source = new EventSource("/sandbox/api/events");
  ui.source = source;
  source.onmessage = () => load();
  source.onerror = () => {
    if (ui.link === "restarted") return;
    setLink("down");
    // The browser retries a dropped stream by itself, but gives up after an answer that is
    // not a stream (a server shutting down): then open a new one.
    if (source.readyState === EventSource.CLOSED) setTimeout(live, 2000);
  };
}

function tick() {
  if (!ui.clockBase || !ui.state) return;
  const now = new Date(nowMs());
  const speed = ui.state.speed === 1 ? "" : ` · ×${ui.state.speed}`;
  $("clock").textContent = `Sandbox time ${now.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })}${speed}`;
  tickDrill();
}

// ---------------------------------------------------------------- wiring
$("who").addEventListener("change", (ev) => {
  ui.as = ev.target.value; localStorage.setItem("fireline.as", ui.as); ui.modalId = null; load();
});
$("composer").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const input = $("compose"); const text = input.value.trim();
  if (!text) return;
  input.value = "";
  if (text.startsWith("/")) await post("command", { channel: ui.channel, text });
  else await post("message", { channel: ui.channel, text });
});
$("thread-composer").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const input = $("thread-compose"); const text = input.value.trim();
  if (!text || !ui.thread) return;
  input.value = "";
  await post("message", { channel: ui.channel, text, thread_ts: ui.thread });
});
$("close-thread").addEventListener("click", () => { ui.thread = null; load(); });
// Modals close as Slack's do: Escape, or a click on the backdrop outside the dialog.
document.addEventListener("keydown", (ev) => { if (ev.key === "Escape" && !$("modal-backdrop").hidden) closeModal(); });
$("modal-backdrop").addEventListener("click", (ev) => { if (ev.target === ev.currentTarget) closeModal(); });
$("drill-start").addEventListener("click", () => post("drill", { op: "start" }));
$("drill-alert").addEventListener("click", openAlert);
$("reload").addEventListener("click", () => location.reload());
$("fire").addEventListener("click", () => post("alert", { name: $("alert-name").value }));
$("resolve-alert").addEventListener("click", () => post("alert", { name: $("alert-name").value, resolved: true }));
setInterval(tick, 250);
load().then(live);
