"""The sandbox page in a real headless browser: what a person trying Fireline does and sees.

Every click here goes page → sandbox API → the Slack double's user actions → a signed request
to the running bot → the bot's Web API calls back to the double → an SSE event → the page
redraws. Nothing is reloaded: each expectation waits for the live update.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from bot.sandbox.world import Sandbox
from tests.sandbox.browser import WAIT_MS, declare, open_as, type_in_composer

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_declare_acknowledge_tick_and_update_from_the_page(
    browser_page: Page, sandbox: Sandbox, shots: Path
) -> None:
    page = browser_page
    missing: list[str] = []  # anything the page asks for and does not get (a favicon 404'd)
    page.on("response", lambda r: missing.append(r.url) if r.status >= 400 else None)
    await open_as(page, sandbox, "Riley Responder — responder")
    channel = await declare(page, "P1 Checkout errors after deploy")
    assert missing == []
    await page.screenshot(path=str(shots / "1-declared.png"))

    await channel.click()
    card = page.locator(".msg", has=page.locator("h3", has_text="INC-1")).first
    await expect(card).to_contain_text("Checkout errors after deploy", timeout=WAIT_MS)
    # Riley declared it, and declaring counts as acknowledging: nothing asks them to.
    await expect(card).to_contain_text("Acknowledged", timeout=WAIT_MS)
    await expect(card.get_by_role("button", name="Acknowledge")).to_have_count(0)

    # At ×150 the 5-minute checklist arrives within seconds of sandbox time passing.
    checklist = page.locator(".msg", has=page.locator("h3", has_text="First 5 minutes"))
    await expect(checklist).to_be_visible(timeout=WAIT_MS)
    await checklist.get_by_role("button", name="Done").first.click()
    await expect(checklist).to_contain_text("✅ Done", timeout=WAIT_MS)
    await expect(checklist).to_contain_text("@Riley Responder")
    await page.screenshot(path=str(shots / "2-card-and-checklist.png"))

    # A modal the bot opens: post a status update through it.
    await card.get_by_role("button", name="Post update").click()
    modal = page.locator("#modal")
    await expect(modal).to_be_visible(timeout=WAIT_MS)
    await modal.locator("textarea, input[type=text]").first.fill("Rolled back to 2.3.0")
    await page.screenshot(path=str(shots / "3-modal.png"))
    await modal.get_by_role("button", name="Post").click()
    await expect(modal).to_be_hidden(timeout=WAIT_MS)
    await expect(page.locator("#messages")).to_contain_text("Rolled back to 2.3.0", timeout=WAIT_MS)


async def test_fire_an_alert_and_open_its_thread(
    browser_page: Page, sandbox: Sandbox, shots: Path
) -> None:
    page = browser_page
    await open_as(page, sandbox, "Casey Commander — commander")
    await page.locator("#channels a", has_text="alerts").click()
    await page.select_option("#alert-name", label="Error rate after a rollout")
    await page.click("#fire")
    parent = page.locator("#messages .msg", has_text="HighErrorRate")
    await expect(parent).to_contain_text("FIRING [critical] HighErrorRate", timeout=WAIT_MS)
    await expect(parent).to_contain_text("deployment=checkout")
    # The same alert resolved: Fireline answers in the alert's thread and edits the parent.
    await page.click("#resolve-alert")
    replies = parent.locator("button.replies")
    await expect(replies).to_be_visible(timeout=WAIT_MS)
    await replies.click()
    thread = page.locator("#thread")
    await expect(thread).to_contain_text("RESOLVED", timeout=WAIT_MS)
    await page.screenshot(path=str(shots / "4-alert-thread.png"))


async def test_rollback_requested_by_one_person_is_approved_by_another(
    browser_page: Page, sandbox: Sandbox, shots: Path
) -> None:
    """The two-person rule as a trial user meets it: Riley asks for a rollback of the bad
    checkout rollout, cannot approve it herself, and Avery's click rolls it back for real."""
    page = browser_page
    await open_as(page, sandbox, "Riley Responder — responder")
    channel = await declare(page, "P2 Checkout errors after deploy")
    await channel.click()
    await type_in_composer(page, "/incident rollback checkout")
    card = page.locator("#messages .msg:not(.ephemeral)", has_text="rollback checkout")
    await expect(card).to_contain_text("Waiting for approval", timeout=WAIT_MS)
    await expect(card).to_contain_text("checkout:2.4.0")  # what runs now → what comes back
    await card.get_by_role("button", name="Approve").click()
    refused = page.locator(".msg.ephemeral", has_text="someone else must approve it")
    await expect(refused).to_be_visible(timeout=WAIT_MS)
    await expect(card).to_contain_text("Waiting for approval")  # nothing changed

    await page.select_option("#who", label="Avery Approver — approver")
    await card.get_by_role("button", name="Approve").click()
    await expect(card).to_contain_text("Approved by", timeout=WAIT_MS)
    await expect(card).to_contain_text("Done", timeout=30_000)
    await page.screenshot(path=str(shots / "6-rollback-approved.png"))
    assert sandbox.cluster is not None
    deployment = sandbox.cluster.get("apps/v1", "Deployment", "orion-prod", "checkout")
    assert deployment is not None
    images = [c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    assert images and all(not image.endswith(":2.4.0") for image in images)


async def test_who_you_are_decides_what_is_allowed(browser_page: Page, sandbox: Sandbox) -> None:
    page = browser_page
    await open_as(page, sandbox, "Nico Newcomer — no role")
    await type_in_composer(page, "/incident logs checkout")
    refused = page.locator(".msg.ephemeral", has_text="needs the role")
    await expect(refused).to_be_visible(timeout=WAIT_MS)
    await page.select_option("#who", label="Riley Responder — responder")
    await expect(refused).to_have_count(0)  # Nico's ephemerals are Nico's alone
    await type_in_composer(page, "/incident pods checkout")
    await expect(page.locator("#messages")).to_contain_text("Pods of", timeout=WAIT_MS)


@pytest.mark.parametrize("speed", [30.0])  # the 60-minute drill lasts 2 real minutes
async def test_drill_panel_follows_the_script(
    browser_page: Page, sandbox: Sandbox, shots: Path
) -> None:
    from bot.sandbox.drill import load_drill, start_drill

    start_drill(sandbox, load_drill("checkout-rollout"))
    page = browser_page
    await open_as(page, sandbox, "Riley Responder — responder")
    panel = page.locator("#drill-status")
    # Nothing happens until the team presses Start: the page shows the targets meanwhile.
    await expect(page.locator("#drill-clock")).to_have_text("Not started")
    await expect(panel).to_contain_text("declare 5 min 00 s")
    assert not sandbox.slack.messages(sandbox.channels["alerts"])
    await page.click("#drill-start")
    await expect(page.locator("#drill-start")).to_be_hidden(timeout=WAIT_MS)
    await expect(page.locator("#drill-clock")).to_contain_text("Drill time")
    await expect(panel).to_contain_text("HighErrorRate fired for checkout", timeout=WAIT_MS)
    # The alert that started it, one click away: its channel, its thread.
    await page.click("#drill-alert")
    await expect(page.locator("#channel-name")).to_have_text("# alerts", timeout=WAIT_MS)
    await expect(page.locator("#thread")).to_contain_text("HighErrorRate", timeout=WAIT_MS)
    await expect(panel).to_contain_text("support asked in #incidents", timeout=WAIT_MS)
    await page.locator("#channels a", has_text="incidents").click()
    await expect(page.locator("#messages")).to_contain_text("card payments fail")
    await expect(panel).to_contain_text("Declare an incident to start the scoring")
    await page.screenshot(path=str(shots / "5-drill.png"))


async def test_channels_are_marked_unread_until_viewed(
    browser_page: Page, sandbox: Sandbox
) -> None:
    page = browser_page
    await open_as(page, sandbox, "Casey Commander — commander")
    alerts = page.locator("#channels a", has_text="alerts")
    await expect(alerts).not_to_have_class("unread")
    await page.select_option("#alert-name", label="Error rate after a rollout")
    await page.click("#fire")
    await expect(alerts).to_have_class("unread", timeout=WAIT_MS)  # bold, with a count
    await expect(alerts.locator(".badge")).to_have_text("1")
    await alerts.click()
    await expect(page.locator("#messages")).to_contain_text("HighErrorRate", timeout=WAIT_MS)
    await expect(alerts.locator(".badge")).to_have_count(0)
    await expect(alerts).not_to_have_class("unread")
    # What Casey typed in #war-room does not mark it unread for Casey.
    await page.locator("#channels a", has_text="war-room").click()
    await type_in_composer(page, "looking at it")
    await expect(page.locator("#messages")).to_contain_text("looking at it", timeout=WAIT_MS)
    await alerts.click()
    await expect(page.locator("#channels a", has_text="war-room")).not_to_have_class("unread")


async def test_escape_and_a_click_outside_close_a_modal(
    browser_page: Page, sandbox: Sandbox
) -> None:
    page = browser_page
    await open_as(page, sandbox, "Riley Responder — responder")
    channel = await declare(page, "P2 Modal closing")
    await channel.click()
    card = page.locator(".msg", has=page.locator("h3", has_text="INC-1")).first
    modal = page.locator("#modal")
    await card.get_by_role("button", name="Post update").click()
    await expect(modal).to_be_visible(timeout=WAIT_MS)
    await page.keyboard.press("Escape")
    await expect(modal).to_be_hidden(timeout=WAIT_MS)
    riley = next(u for u, p in sandbox.people.items() if p.handle == "riley")
    assert not sandbox.slack.open_views(riley)  # closed in the workspace, not just hidden
    await card.get_by_role("button", name="Post update").click()
    await expect(modal).to_be_visible(timeout=WAIT_MS)
    await modal.click()  # inside the dialog: stays open
    await expect(modal).to_be_visible()
    await page.mouse.click(5, 795)  # the backdrop, outside the dialog
    await expect(modal).to_be_hidden(timeout=WAIT_MS)


async def test_code_tables_in_the_thread_pane_keep_their_rows_at_1280_px(
    browser_page: Page, sandbox: Sandbox
) -> None:
    """The alert's diagnostics (pods, revisions) are tables in code blocks: one row a line,
    scrolled sideways inside the block as Slack does, never wrapped."""
    page = browser_page
    assert page.viewport_size == {"width": 1280, "height": 800}
    await open_as(page, sandbox, "Casey Commander — commander")
    await page.locator("#channels a", has_text="alerts").click()
    await page.select_option("#alert-name", label="Error rate after a rollout")
    await page.click("#fire")
    replies = page.locator("#messages .msg", has_text="HighErrorRate").locator("button.replies")
    await expect(replies).to_be_visible(timeout=WAIT_MS)
    await replies.click()
    thread = page.locator("#thread")
    revisions = thread.locator("pre", has_text="CHANGE-CAUSE").first
    await expect(revisions).to_be_visible(timeout=WAIT_MS)
    blocks = await thread.locator("pre").evaluate_all(
        """(pres) => pres.map((pre) => {
            const style = getComputedStyle(pre);
            const line = parseFloat(style.lineHeight);
            const pad = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom);
            return { lines: pre.textContent.replace(/\\n$/, "").split("\\n").length,
                     shown: (pre.clientHeight - pad) / line,
                     right: pre.getBoundingClientRect().right,
                     scrolls: pre.scrollWidth > pre.clientWidth };
        })"""
    )
    pane = await page.locator("#thread-pane").bounding_box()
    assert pane is not None and pane["width"] >= 400
    assert blocks
    for block in blocks:
        assert round(block["shown"]) == block["lines"], block  # no row wrapped onto two lines
        assert block["right"] <= pane["x"] + pane["width"] + 1, block  # inside the pane
    assert any(block["scrolls"] for block in blocks)  # the wide one scrolls inside itself
