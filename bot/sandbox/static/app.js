// Fireline sandbox page: renders the emulated Slack workspace and acts through the sandbox API.
// Vanilla JS, no build step. Live: one Server-Sent Events stream; each event triggers a redraw.
"use strict";

const $ = (id) => document.getElementById(id);
const ui = {
  as: localStorage.getItem("fireline.as") || "",
  channel: localStorage.getItem("fireline.channel") || "",
  thread: null,
  state: null,
  seen: {},            // channel id -> message count last seen (for unread marks)
  loading: false,
  again: false,
  clockBase: null,     // [sandbox ms, wall ms]
};

// ---------------------------------------------------------------- helpers
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "html") node.innerHTML = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}
const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
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

// Slack mrkdwn -> HTML, read the way Slack reads it: `<…>` is a mention, a broadcast, a date or a
// link (anywhere, code included); outside those, only &lt; &gt; &amp; are decoded; code spans and
// blocks show their text verbatim (no bold, no placeholders); everything ends HTML-escaped, so no
// text can become markup on this page. Stash markers use private-use characters stripped from the
// input, and nothing stashed is stashed again (that nesting once showed `<deployment>` as "7").
const STASH_OPEN = "\uE000", STASH_CLOSE = "\uE001", QUOTE = "\uE002";
const decodeSlack = (s) => s.replace(/&(lt|gt|amp);/g, (_, e) => ({ lt: "<", gt: ">", amp: "&" })[e]);
function slackToken(inner) {
  const st = ui.state || { users: {}, channel_names: {} };
  const bar = inner.indexOf("|");
  const target = bar < 0 ? inner : inner.slice(0, bar);
  const label = bar < 0 ? "" : decodeSlack(inner.slice(bar + 1));
  const mention = (text) => `<span class="mention">${esc(text)}</span>`;
  if (target.startsWith("@")) return mention("@" + ((st.users || {})[target.slice(1)] || label || target.slice(1)));
  if (target.startsWith("#")) return mention("#" + (label || (st.channel_names || {})[target.slice(1)] || target.slice(1)));
  if (target.startsWith("!subteam^")) return mention(label || "@group");
  if (target.startsWith("!date^")) { const [, epoch, fmt] = target.split("^"); return esc(dateToken(epoch, fmt || "{time}", label)); }
  if (target.startsWith("!")) return mention(label || "@" + target.slice(1));
  const url = decodeSlack(target);
  if (/^(https?|mailto):/i.test(url)) return `<a href="${esc(url)}" target="_blank" rel="noopener noreferrer">${esc(label || url)}</a>`;
  return esc(label || url);
}
// Text without styles: tokens rendered, entities decoded, the rest HTML-escaped.
function slackVerbatim(s) {
  return s.split(/(<[^<>]*>)/).map((part, i) => (i % 2 ? slackToken(part.slice(1, -1)) : esc(decodeSlack(part)))).join("");
}
function mrkdwn(text) {
  const kept = [];
  const keep = (html) => { kept.push(html); return `${STASH_OPEN}${kept.length - 1}${STASH_CLOSE}`; };
  let s = String(text || "").replace(/[\uE000-\uE002]/g, "");
  s = s.replace(/```([\s\S]*?)```/g, (_, code) => keep(`<pre>${slackVerbatim(code.replace(/^\n/, ""))}</pre>`));
  s = s.replace(/`([^`\n]+)`/g, (_, code) => keep(`<code>${slackVerbatim(code)}</code>`));
  s = s.replace(/<([^<>]*)>/g, (_, inner) => keep(slackToken(inner)));
  s = s.split("\n").map((line) => (line.startsWith(">") ? QUOTE + line.slice(1).replace(/^ /, "") : line)).join("\n");
  s = esc(decodeSlack(s));
  s = s.replace(/(^|[\s(])\*([^*\n]+)\*(?=$|[\s).,:;!?])/gm, "$1<b>$2</b>");
  s = s.replace(/(^|[\s(])_([^_\n]+)_(?=$|[\s).,:;!?])/gm, "$1<i>$2</i>");
  s = s.replace(/(^|[\s(])~([^~\n]+)~(?=$|[\s).,:;!?])/gm, "$1<s>$2</s>");
  s = s.split("\n").map((line) => (line.startsWith(QUOTE) ? `<blockquote>${line.slice(1)}</blockquote>` : line)).join("\n");
  s = s.replace(/\n/g, "<br>");
  return s.replace(new RegExp(`${STASH_OPEN}(\\d+)${STASH_CLOSE}`, "g"), (_, i) => kept[+i]);
}
function textObj(t) {
  if (!t) return "";
  return t.type === "mrkdwn" ? mrkdwn(t.text) : esc(t.text).replace(/\n/g, "<br>");
}

// ---------------------------------------------------------------- Block Kit
// ctx: {channel, ts} for a message, or {view} for a modal (inputs are read at submit).
function renderBlocks(blocks, ctx) {
  return (blocks || []).map((b) => renderBlock(b, ctx)).filter(Boolean);
}
function renderBlock(b, ctx) {
  const div = (cls, ...kids) => el("div", { class: `block ${cls}`, "data-block": b.type }, ...kids);
  switch (b.type) {
    case "header": return div("header", el("h3", { html: textObj(b.text) }));
    case "divider": return el("hr");
    case "section": {
      const text = el("div", { class: "text" });
      if (b.text) text.append(el("div", { html: textObj(b.text) }));
      if (b.fields) text.append(el("div", { class: "fields" }, b.fields.map((f) => el("div", { html: textObj(f) }))));
      const acc = b.accessory ? renderElement(b.accessory, b.block_id, ctx) : null;
      return div("section", el("div", { class: "section-row" }, text, acc));
    }
    case "context": return div("context", (b.elements || []).map((e) =>
      e.type === "image" ? el("a", { href: e.image_url, target: "_blank" }, `🖼 ${e.alt_text || "image"} `) : el("span", { html: textObj(e) + " " })));
    case "actions": return div("actions", (b.elements || []).map((e) => renderElement(e, b.block_id, ctx)));
    case "image": return div("image", el("a", { href: b.image_url, target: "_blank", rel: "noopener" }, `🖼 ${(b.title && b.title.text) || b.alt_text || "image"}`));
    case "input": return renderInput(b, ctx);
    case "rich_text": return null;  // the message's text is shown instead
    default: return div("unknown", el("span", { class: "muted small" }, `[${b.type} block]`));
  }
}
function options(e) {
  return (e.options || []).concat(...(e.option_groups || []).map((g) => g.options || []));
}
function renderElement(e, blockId, ctx) {
  const act = (payload) => action({ ...payload, action_id: e.action_id, block_id: blockId, kind: e.type }, ctx);
  switch (e.type) {
    case "button": {
      const cls = e.style === "primary" ? "primary" : e.style === "danger" ? "danger" : "";
      if (e.url) return el("a", { href: e.url, target: "_blank", rel: "noopener" }, e.text.text);
      return el("button", { class: cls, type: "button", "data-action": e.action_id, onclick: (ev) => act({ value: e.value, button: ev.target }) }, e.text.text);
    }
    case "static_select": case "overflow": {
      const sel = el("select", { "data-action": e.action_id, "aria-label": (e.placeholder && e.placeholder.text) || e.action_id },
        el("option", { value: "" }, (e.placeholder && e.placeholder.text) || "Choose…"),
        options(e).map((o) => el("option", { value: o.value, selected: e.initial_option && e.initial_option.value === o.value }, o.text.text)));
      if (!ctx.view) sel.addEventListener("change", () => sel.value && act({ value: sel.value }));
      return sel;
    }
    case "checkboxes": case "radio_buttons": {
      const box = el("div", { class: "checks", "data-action": e.action_id });
      const initial = new Set((e.initial_options || []).map((o) => o.value));
      for (const o of options(e)) {
        const input = el("input", { type: e.type === "checkboxes" ? "checkbox" : "radio", name: `${blockId}.${e.action_id}`, value: o.value, checked: initial.has(o.value) });
        if (!ctx.view) input.addEventListener("change", () => act({ value: o.value, values: [...box.querySelectorAll("input:checked")].map((i) => i.value) }));
        box.append(el("label", {}, input, " ", el("span", { html: textObj(o.text) })));
      }
      return box;
    }
    case "image": return el("a", { href: e.image_url, target: "_blank" }, `🖼 ${e.alt_text || "image"}`);
    default: return el("span", { class: "muted small" }, `[${e.type}]`);
  }
}
function renderInput(b, ctx) {
  const e = b.element || {};
  let field;
  if (e.type === "plain_text_input") {
    field = e.multiline ? el("textarea", { rows: 4 }) : el("input", { type: "text" });
    if (e.initial_value) field.value = e.initial_value;
    if (e.placeholder) field.placeholder = e.placeholder.text;
  } else if (e.type === "users_select" || e.type === "conversations_select") {
    field = el("select", {}, el("option", { value: "" }, "Choose…"),
      (ui.state.people || []).map((p) => el("option", { value: p.id, selected: e.initial_user === p.id }, p.name)));
  } else {
    field = renderElement(e, b.block_id, ctx);
  }
  field.dataset.input = e.type; field.dataset.actionId = e.action_id;
  const label = b.label ? b.label.text + (b.optional ? " (optional)" : "") : "";
  return el("div", { class: "input", "data-block-id": b.block_id },
    el("label", {}, label), field, b.hint ? el("div", { class: "hint" }, b.hint.text) : null, el("div", { class: "error" }));
}
function inputValue(block, e) {
  const field = block.querySelector("[data-input]");
  const opts = Object.fromEntries(options(e).map((o) => [o.value, o]));
  switch (e.type) {
    case "plain_text_input": return field.value;
    case "users_select": return { type: "users_select", selected_user: field.value || null };
    case "static_select": return { type: "static_select", selected_option: field.value ? opts[field.value] : null };
    case "checkboxes": return { type: "checkboxes", selected_options: [...field.querySelectorAll("input:checked")].map((i) => opts[i.value]) };
    case "radio_buttons": { const c = field.querySelector("input:checked"); return { type: "radio_buttons", selected_option: c ? opts[c.value] : null }; }
    default: return null;
  }
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
  // channels
  const list = $("channels"); list.replaceChildren();
  for (const c of st.channels) {
    const label = c.dm ? `@ ${c.name}` : `# ${c.name}`;
    list.append(el("li", {}, el("a", { href: "#", "data-channel": c.name, class: c.id === st.channel ? "current" : "",
      onclick: (ev) => { ev.preventDefault(); selectChannel(c.id); } }, label)));
  }
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

function renderDrill(drill) {
  $("drill").hidden = !drill;
  if (!drill) return;
  $("drill-status").innerHTML = mrkdwn(drill.text);
}

// ---------------------------------------------------------------- modals
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
const TOKEN = { "X-Sandbox-Token": document.querySelector('meta[name="sandbox-token"]').content };
async function post(what, body) {
  try {
    const res = await fetch(`/sandbox/api/${what}`, { method: "POST", headers: { "Content-Type": "application/json", ...TOKEN }, body: JSON.stringify({ as: ui.as, ...body }) });
    const data = await res.json();
    if (!data.ok) toast(data.error);
    else if (data.status && data.status >= 400) toast(`Fireline answered ${data.status}`);
    return data;
  } catch (err) {
    toast(`The sandbox did not answer: ${err}`);
    return null;
  }
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
    const res = await fetch(`/sandbox/api/state?${q}`, { headers: TOKEN });
    const state = await res.json();
    // The person switched channel, thread or identity while this was in flight: this answer
    // is for the old view; drawing it would undo their click. Ask again instead.
    if (asked.as !== ui.as || asked.channel !== ui.channel || asked.thread !== ui.thread) {
      ui.again = true;
      return;
    }
    ui.state = state;
    if (!ui.as || !ui.state.people.some((p) => p.id === ui.as)) ui.as = ui.state.people[0].id;
    render();
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

function live() {
  const source = new EventSource("/sandbox/api/events");
  source.onopen = () => { $("live").textContent = "live"; $("live").classList.remove("off"); };
  source.onmessage = () => load();
  source.onerror = () => { $("live").textContent = "reconnecting"; $("live").classList.add("off"); };
}

function tick() {
  if (!ui.clockBase || !ui.state) return;
  const now = new Date(nowMs());
  const speed = ui.state.speed === 1 ? "" : ` · ×${ui.state.speed}`;
  $("clock").textContent = `Sandbox time ${now.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })}${speed}`;
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
$("fire").addEventListener("click", () => post("alert", { name: $("alert-name").value }));
$("resolve-alert").addEventListener("click", () => post("alert", { name: $("alert-name").value, resolved: true }));
setInterval(tick, 1000);
load().then(live);
