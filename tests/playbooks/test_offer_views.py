"""What Kubernetes and the logs put into a run's first line and into the offers' reasons is
escaped for mrkdwn: it reads as written and pings no one."""

from __future__ import annotations

from bot.diagnostics.remedies import Verdict
from bot.diagnostics.views import offer_blocks
from bot.playbooks.views import lead

HOSTILE = "<!channel> & <https://evil.example|sso>"


def test_the_lead_escapes_the_diagnosis_and_keeps_the_intro() -> None:
    text, body = lead(f"Errors: `{HOSTILE}` ×3", "📘 Playbook *X*")
    assert "<!channel>" not in text and "&lt;!channel&gt; &amp;" in text
    assert (
        body[0]["text"]["text"]
        == "🩺 Errors: `&lt;!channel&gt; &amp; &lt;https://evil.example|sso&gt;` ×3"
    )
    assert body[1]["elements"][0]["text"] == "📘 Playbook *X*"


def test_the_diagnosis_offers_escape_their_reason() -> None:
    verdict = Verdict("rollback", {"deployment": "app"}, True, f"back to rev 1 ({HOSTILE})")
    _, block = offer_blocks([verdict], "INC-1")
    assert "<!channel>" not in block["text"]["text"]
    assert block["text"]["text"].startswith("*Roll back app* — back to rev 1 (&lt;!channel&gt;")
    assert block["accessory"]["text"] == {"type": "plain_text", "text": "Roll back app"}
