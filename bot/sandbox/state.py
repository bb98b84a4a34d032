"""What the sandbox page shows, read from the emulated workspace for one person."""

from __future__ import annotations

from typing import Any

from bot.sandbox.doubles.slack.workspace import Channel
from bot.sandbox.live import LiveSandbox

MAX_MESSAGES = 200


def _channel_info(ch: Channel, first: dict[str, int], viewer: str) -> dict[str, Any]:
    return {
        "id": ch.id,
        "name": ch.name or "fireline",
        "topic": ch.topic,
        "dm": ch.is_im,
        "order": first.get(ch.name, len(first)),
        "created": ch.created,
        "count": _others(ch, viewer),
    }


def _others(ch: Channel, viewer: str) -> int:
    """Messages in the channel (not thread replies) that someone other than `viewer` posted:
    the page marks the channel unread when this grows past what the viewer has seen, as Slack
    marks a channel bold."""
    return sum(1 for m in ch.messages.values() if not m.is_reply and m.data.get("user") != viewer)


def snapshot(
    sandbox: LiveSandbox, *, viewer: str, channel: str, thread: str | None
) -> dict[str, Any]:
    ws = sandbox.slack.ws
    fixed = {name: i for i, name in enumerate(sandbox.channels)}
    with ws.lock:
        shown = [
            c
            for c in ws.channels.values()
            if not c.is_general and not c.is_mpim and (not c.is_im or c.im_user == viewer)
        ]
        infos = (_channel_info(c, fixed, viewer) for c in shown)
        channels = sorted(infos, key=lambda c: (c["order"], c["created"]))
        if channel not in {c["id"] for c in channels}:
            channel = sandbox.channels.get("war-room", "")
        current = ws.channels.get(channel)
        messages: list[dict[str, Any]] = []
        replies: list[dict[str, Any]] = []
        if current is not None:
            messages = [m.to_dict() for m in current.messages.values() if not m.is_reply]
            root = current.messages.get(thread) if thread else None
            if root is not None:
                replies = [root.to_dict()] + [
                    current.messages[r].to_dict() for r in root.replies if r in current.messages
                ]
        ephemerals = [
            {"ts": e.ts, "text": e.text, "blocks": e.blocks, "thread_ts": e.thread_ts}
            for e in ws.ephemerals
            if e.user_id == viewer and e.channel_id == channel
        ]
        users = {u.id: u.real_name for u in ws.users.values()}
        names = {c.id: c.name for c in ws.channels.values() if c.name}
        views = sandbox.slack.open_views(viewer) if viewer in sandbox.people else []
    drill = sandbox.drill.status() if sandbox.drill is not None else None
    return {
        "team": ws.team.name,
        "bot": ws.bot_user.id,
        "speed": sandbox.clock.speed,
        "now": sandbox.clock.now().isoformat(),
        "clock": {
            "origin": sandbox.clock.origin.timestamp(),
            "wall": sandbox.clock.wall_start,
            "speed": sandbox.clock.speed,
        },
        "people": [
            {"id": p.user_id, "name": p.real_name, "role": p.role or "no role", "about": p.about}
            for p in sandbox.people.values()
        ],
        "users": users,
        "channel_names": names,
        "channels": channels,
        "channel": channel,
        "messages": messages[-MAX_MESSAGES:],
        "ephemerals": [e for e in ephemerals if not e["thread_ts"]],
        "thread": {"ts": thread, "messages": replies} if replies else None,
        "views": views,
        "alerts": [e.name for e in sandbox.alert_examples()],
        "cluster": "simulated (orion-prod)"
        if sandbox.kube is not None
        else f"kubeconfig context {sandbox.options.kube_context} (read-only)",
        "drill": drill,
    }
