// Fireline sandbox page, part 1: Slack's mrkdwn and Block Kit drawn as HTML (app.js draws the
// workspace with them and acts through the sandbox API). Vanilla JS, no build step; loaded
// before app.js, whose `ui` (the current state) and `action` these read when they draw.
"use strict";

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

