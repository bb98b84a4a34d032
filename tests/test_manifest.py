"""The Slack app manifest grants what the bot calls, per Slack's own method reference."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "bot" / "sandbox" / "doubles" / "slack_api_ref" / "methods"
# files_upload_v2 is one client call made of these two Web API methods.
UPLOAD_V2 = ["files.getUploadURLExternal", "files.completeUploadExternal"]


def methods_the_bot_calls() -> set[str]:
    called: set[str] = set()
    for path in (ROOT / "bot").rglob("*.py"):
        if "doubles" in path.parts:
            continue
        called |= set(re.findall(r'_call\(\s*"([a-z]+\.[A-Za-z.]+)"', path.read_text()))
        if "files_upload_v2" in path.read_text():
            called |= set(UPLOAD_V2)
    return called


def test_manifest_grants_a_scope_for_every_method_called() -> None:
    manifest = yaml.safe_load((ROOT / "deploy" / "slack-app-manifest.yml").read_text())
    granted = set(manifest["oauth_config"]["scopes"]["bot"])
    called = methods_the_bot_calls()
    assert {"chat.postMessage", "conversations.create", "pins.add"} <= called
    for method in sorted(called):
        ref = json.loads((REF / f"{method}.json").read_text())
        needs = set(ref.get("scope", {}).get("bot", []))
        assert not needs or needs & granted, f"{method} needs one of {sorted(needs)}"


def test_manifest_declares_the_command_and_events_handled() -> None:
    manifest = yaml.safe_load((ROOT / "deploy" / "slack-app-manifest.yml").read_text())
    commands = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert commands == {"/incident"}
    assert manifest["features"]["slash_commands"][0]["should_escape"] is True  # <@U…> mentions
    handled = set()
    for path in (ROOT / "handlers").glob("*.py"):
        handled |= set(re.findall(r'@app\.event\("([a-z_]+)"\)', path.read_text()))
    assert handled == set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
