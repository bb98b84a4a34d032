"""A remediation button clicked again after what it offered was done: a diagnosis's or a
playbook's "Roll back checkout" (or "Scale … to 6"), clicked, approved and run, then clicked
once more, later, on a copy of the message a client still shows.

Before: the second click opened a second rollback from the revision the first one made — back
to the release that was being rolled back — and the message kept inviting it. Now the button
carries what the target was when offered; a click after the target moved on is answered with
what is true, what changed it and what to run instead, and nothing is requested; and the
message shows, in place of the button, that it was requested and how that ended.

Driven as people do: typed commands and clicks through the Slack double (signed deliveries),
the bot on real Redis, the cluster in the Kubernetes double."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bot.blockkit import REMEDIATION_REQUEST
from bot.playbooks.models import Playbooks
from bot.policy.incidents import IncidentPolicy
from bot.policy.models import ALL_ACTIONS, REQUIRED_ROLES, Policy, RoleGrant
from bot.policy.models import Cluster as PolicyCluster
from bot.remediation import views as approval_blocks
from bot.remediation.store import Source, State
from bot.sandbox.doubles.kubernetes import Cluster, add_deployment, set_pod_usage
from bot.sandbox.doubles.kubernetes.workloads import deployment_pods
from tests.clock import ManualClock
from tests.harness import Builder, Harness, eventually, flatten
from tests.playbooks.world import SHIPPED
from tests.remediation.world import (
    NS,
    approval_cards,
    click,
    declare,
    deployment_of,
    remediation_policy,
    scenario,
    until_state,
    writes,
)

READS = ("pods", "describe", "events", "logs", "top", "rollout-history", "hpa", "diagnose")


def with_hot_pricing() -> Cluster:
    """The remediation scenario, plus `pricing`: 3 pods at their CPU limit, no autoscaler (a
    diagnosis offers to scale it to 6)."""
    cluster = scenario()
    add_deployment(cluster, NS, "pricing", replicas=3, limits={"cpu": "500m", "memory": "256Mi"})
    for pod in deployment_pods(cluster, NS, "pricing"):
        set_pod_usage(cluster, NS, pod["metadata"]["name"], cpu="495m", memory="100Mi")
    return cluster


async def offers_world(build: Builder, playbooks: Playbooks | None = None) -> Harness:
    """world.py's people and remediation policy (no cooldown: a later click is not held off
    by it, which is what is tested here), where everyone may also diagnose."""
    build.people("rita", "apollo", "cleo", "otto").channel("room", "war-room")
    build.channel("broadcast", "incidents", members=["cleo"], bot_member=False)
    ids = build.ids
    base = remediation_policy()
    rule = base.actions["rollback"].model_copy(update={"cooldown_minutes": 0})
    policy = Policy(
        roles={
            "viewer": RoleGrant(users=(ids["cleo"], ids["otto"]), actions=READS),
            "responder": RoleGrant(users=(ids["rita"],), actions=READS),
            "commander": RoleGrant(users=(ids["apollo"],), actions=READS),
            "admin": RoleGrant(actions=(ALL_ACTIONS,)),
        },
        clusters={
            "test": PolicyCluster(context="test", namespaces=("orion-*",), default_namespace=NS)
        },
        remediation=base.model_copy(update={"actions": dict.fromkeys(base.actions, rule)}),
        incidents=IncidentPolicy.open_to_all(REQUIRED_ROLES),
    )
    return await (
        build.kubernetes(with_hot_pricing(), reconcile_interval=0.01)
        .clock(ManualClock(datetime.now(UTC).replace(microsecond=0)))
        .policy(policy)
        .playbooks(playbooks)
        .deps(kube_timeout_s=1.0, kube_attempts=2, remediation_poll_s=0.02)
        .wait_for_jobs()
        .start()
    )


def revision_of(w: Harness, deployment: str) -> str:
    return str(
        deployment_of(w, deployment)["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
    )


def offer_buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        b["accessory"]
        for b in message.get("blocks") or []
        if b.get("accessory", {}).get("action_id") == REMEDIATION_REQUEST
    ]


def now_of(w: Harness, channel: str, ts: str) -> dict[str, Any]:
    """A message as the channel shows it now (replies included)."""
    return next(m for m in w.slack.messages(channel, include_replies=True) if m["ts"] == ts)


async def diagnosis(w: Harness, user: str, channel: str, deployment: str) -> dict[str, Any]:
    await w.command(user, f"diagnose {deployment}", channel=channel)
    return await eventually(
        lambda: next(
            (m for m in w.slack.messages(channel) if f"Diagnosis of `{deployment}`" in m["text"]),
            None,
        ),
        what=f"the diagnosis; {user} was told {w.ephemeral_texts(user)}",
    )


async def click_offer(
    w: Harness, user: str, channel: str, message: dict[str, Any], label: str
) -> None:
    """`user` clicks the offer labelled `label` on `message` as they see it (perhaps a copy the
    bot has edited since)."""
    block = next(
        b for b in message["blocks"]
        if b.get("accessory", {}).get("text", {}).get("text") == label
    )  # fmt: skip
    await w.slack.click_button(
        user, channel, message["ts"], REMEDIATION_REQUEST, block_id=block["block_id"],
        message=message,
    )  # fmt: skip
    await w.settle()


async def test_a_diagnosis_rollback_clicked_again_after_it_ran_rolls_nothing_back(
    build: Any,
) -> None:
    w = await offers_world(build())
    _, channel = await declare(w, w.cleo, "P1 checkout returns 500")
    offered = await diagnosis(w, w.rita, channel, "checkout")
    [button] = offer_buttons(offered)
    assert button["text"]["text"] == "Roll back checkout"
    # The value names what was offered: rev 3 was running when the diagnosis offered it.
    assert json.loads(button["value"])["offered"]["revision"] == 3

    await click_offer(w, w.rita, channel, offered, "Roll back checkout")
    await eventually(lambda: approval_cards(w, channel), what="R-1's card")
    shown = flatten(now_of(w, channel, offered["ts"])["blocks"])
    assert f"⏳ Requested as R-1 by <@{w.rita}>; its approval card is in the thread" in shown
    assert offer_buttons(now_of(w, channel, offered["ts"])) == []  # no longer invites a click

    await click(w, w.apollo, channel, approval_blocks.APPROVE)
    await until_state(w, "R-1", State.SUCCEEDED)
    checkout = deployment_of(w, "checkout")
    assert checkout["spec"]["template"]["spec"]["containers"][0]["image"].endswith("2.3.0")
    assert revision_of(w, "checkout") == "4"
    shown = await eventually(
        lambda: (t := flatten(now_of(w, channel, offered["ts"])["blocks"])) and "Done" in t and t
    )
    assert "`rollback checkout` — ✅ Done as R-1" in shown
    assert f"(requested by <@{w.rita}>, approved by <@{w.apollo}>)" in shown
    assert "image (checkout): checkout:2.4.0 → checkout:2.3.0" in shown
    assert "For a fresh view: `/incident diagnose checkout -n orion-prod`" in shown
    assert "*Roll back checkout*" not in shown  # the offer's own line gave way to the outcome

    # Later, the same button on a copy a client still shows; and someone else's click.
    for person in (w.rita, w.apollo):
        await click_offer(w, person, channel, offered, "Roll back checkout")
        told = await w.told(person, "Nothing was requested")
        assert (
            "`checkout` has changed since this button was offered (revision 3 then, revision 4 "
            "now: checkout:2.3.0). R-1 (`rollback checkout`, approved by "
            f"<@{w.apollo}>) changed it "
        ) in told
        assert "fresh buttons: `/incident diagnose checkout -n orion-prod`" in told
    assert len(approval_cards(w, channel)) == 1
    assert await w.app.remediation.records.get("R-2") is None
    # The message keeps saying how R-1 ended: the old copy's clicks do not overwrite it.
    assert "✅ Done as R-1" in flatten(now_of(w, channel, offered["ts"])["blocks"])
    assert len(writes(w, "patch", "deployments/checkout")) == 1  # no second rollout
    assert revision_of(w, "checkout") == "4"
    audit = await w.app.services.store.audit_log()
    assert [a["outcome"] for a in audit if a["action"] == "rollback"].count("rejected") == 2


async def test_an_outdated_button_on_another_message_gives_way_to_a_line(build: Any) -> None:
    """Two diagnoses both offered "Roll back checkout"; the first's was used. The second's,
    clicked later, requested nothing and said so to the clicker, but stayed on its message,
    inviting the next person to click it again (a walk of the sandbox)."""
    w = await offers_world(build())
    _, channel = await declare(w, w.cleo, "P1 checkout returns 500")
    first = await diagnosis(w, w.rita, channel, "checkout")
    await w.command(w.apollo, "diagnose checkout", channel=channel)
    second = await eventually(
        lambda: next(
            (m for m in w.slack.messages(channel)
             if "Diagnosis of `checkout`" in m["text"] and m["ts"] != first["ts"]),
            None,
        ),
        what="the second diagnosis",
    )  # fmt: skip
    await click_offer(w, w.rita, channel, first, "Roll back checkout")
    await eventually(lambda: approval_cards(w, channel), what="R-1's card")
    await click(w, w.apollo, channel, approval_blocks.APPROVE)
    await until_state(w, "R-1", State.SUCCEEDED)

    await click_offer(w, w.apollo, channel, second, "Roll back checkout")
    await w.told(w.apollo, "Nothing was requested")
    shown = await eventually(
        lambda: (t := flatten(now_of(w, channel, second["ts"])["blocks"])) and "Outdated" in t and t
    )
    assert (
        "♻️ Outdated: `checkout` has changed since this was offered (revision 3 then, revision 4 "
        "now: checkout:2.3.0); nothing was requested. For a fresh view and fresh buttons: "
        "`/incident diagnose checkout -n orion-prod`."
    ) in shown
    assert offer_buttons(now_of(w, channel, second["ts"])) == []
    assert "Done as R-1" in flatten(now_of(w, channel, first["ts"])["blocks"])
    assert len(writes(w, "patch", "deployments/checkout")) == 1


async def test_a_scale_button_clicked_when_already_scaled_is_told_so(build: Any) -> None:
    w = await offers_world(build())
    _, channel = await declare(w, w.cleo, "P1 pricing slow")
    offered = await diagnosis(w, w.rita, channel, "pricing")
    assert [b["text"]["text"] for b in offer_buttons(offered)] == ["Scale pricing to 6"]
    await click_offer(w, w.rita, channel, offered, "Scale pricing to 6")
    await eventually(lambda: approval_cards(w, channel), what="R-1's card")
    await click(w, w.apollo, channel, approval_blocks.APPROVE)
    await until_state(w, "R-1", State.SUCCEEDED)
    assert deployment_of(w, "pricing")["spec"]["replicas"] == 6

    await click_offer(w, w.rita, channel, offered, "Scale pricing to 6")
    told = await w.told(w.rita, "Nothing was requested")
    assert "`pricing` has changed since this button was offered (3 replicas then, 6 now)" in told
    assert "R-1 (`scale pricing`" in told and "replicas: 3 → 6" in told
    assert len(writes(w, "patch", "deployments/pricing/scale")) == 1


async def test_a_playbooks_rollback_button_shows_its_outcome_and_is_not_run_twice(
    build: Any,
) -> None:
    w = await offers_world(build(), playbooks=SHIPPED)
    _, channel = await declare(w, w.cleo, "P1 checkout errors")
    await w.command(w.rita, "playbook high-error-rate checkout", channel=channel)
    guidance = await eventually(
        lambda: next(
            (
                m
                for m in w.slack.messages(channel, include_replies=True)
                if "Next steps" in m.get("text", "") and offer_buttons(m)
            ),
            None,
        ),
        10.0,
        "the playbook's guidance",
    )
    await click_offer(w, w.rita, channel, guidance, "Roll back checkout")
    await eventually(lambda: approval_cards(w, channel), what="R-1's card")
    assert approval_cards(w, channel)[0]["thread_ts"] == guidance["thread_ts"]
    await click(w, w.apollo, channel, approval_blocks.APPROVE)
    await until_state(w, "R-1", State.SUCCEEDED)
    edited = await eventually(
        lambda: (m := now_of(w, channel, guidance["ts"])) and "Done as R-1" in flatten(m) and m
    )
    assert [b["text"]["text"] for b in offer_buttons(edited)] == ["Restart checkout"]

    await click_offer(w, w.rita, channel, guidance, "Roll back checkout")
    await w.told(w.rita, "has changed since this button was offered (revision 3 then")
    assert len(writes(w, "patch", "deployments/checkout")) == 1


async def test_a_request_that_expired_says_so_in_place_of_its_button(build: Any) -> None:
    w = await offers_world(build())
    _, channel = await declare(w, w.cleo, "P1 checkout returns 500")
    offered = await diagnosis(w, w.rita, channel, "checkout")
    await click_offer(w, w.rita, channel, offered, "Roll back checkout")
    await until_state(w, "R-1", State.PENDING)
    w.manual_clock.advance(15 * 60 + 1)
    await w.settle()
    await until_state(w, "R-1", State.EXPIRED)
    shown = await eventually(
        lambda: (t := flatten(now_of(w, channel, offered["ts"])["blocks"])) and "expired" in t and t
    )
    assert "⌛ R-1 expired without approval" in shown and "nothing was changed" in shown
    assert "To ask again: `/incident rollback checkout -n orion-prod`" in shown
    # Nothing changed, so the offer still holds: a click on a copy asks again.
    await click_offer(w, w.rita, channel, offered, "Roll back checkout")
    await until_state(w, "R-2", State.PENDING)
    assert "Requested as R-2" in flatten(now_of(w, channel, offered["ts"])["blocks"])


async def test_a_second_click_while_the_first_request_is_open_says_where_its_card_is(
    build: Any,
) -> None:
    w = await offers_world(build())
    _, channel = await declare(w, w.cleo, "P1 checkout returns 500")
    offered = await diagnosis(w, w.rita, channel, "checkout")
    for person in (w.rita, w.apollo):  # a double click; a colleague on the same diagnosis
        await click_offer(w, person, channel, offered, "Roll back checkout")
    await w.told(
        w.apollo,
        "R-1 is already open for deployment checkout in test/orion-prod. Approve, deny or "
        "cancel it (its card is in the thread of the message that asked for it)",
    )
    assert len(approval_cards(w, channel)) == 1


async def test_a_value_can_only_refuse_what_it_says_was_offered(build: Any) -> None:
    """`offered` is what the button's poster saw; forging it cannot make anything happen that
    the policy and the preview would not, only turn the click down."""
    w = await offers_world(build())
    _, channel = await declare(w, w.cleo, "P1 checkout returns 500")
    value = {"action": "rollback", "params": {"deployment": "checkout", "namespace": NS}}
    for offered, said in (
        ({"revision": 7, "at": 0}, "revision 7 then, revision 3 now"),
        ("rev 3", "does not carry a remediation Fireline understands"),
    ):
        ts = await w.app.services.slack.post_message(
            channel, "Suggested fix",
            [{"type": "actions", "elements": [{
                "type": "button", "text": {"type": "plain_text", "text": "Roll back"},
                "action_id": REMEDIATION_REQUEST,
                "value": json.dumps({**value, "offered": offered}),
            }]}],
        )  # fmt: skip
        await w.slack.click_button(w.rita, channel, ts, REMEDIATION_REQUEST)
        await w.settle()
        await w.told(w.rita, said)
    assert approval_cards(w, channel) == [] and not writes(w)


def test_only_the_clicked_button_of_an_actions_block_gives_way() -> None:
    def button(name: str) -> dict[str, Any]:
        value = json.dumps({"action": "restart", "params": {"deployment": name}})
        text = {"type": "plain_text", "text": f"Restart {name}"}
        return {"type": "button", "action_id": REMEDIATION_REQUEST, "value": value, "text": text}

    a, b = button("a"), button("b")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "block_id": "s", "text": {"type": "mrkdwn", "text": "hello"}},
        {"type": "actions", "block_id": "fixes", "elements": [a, b]},
    ]
    on_a = Source(ts="1.0", block_id="fixes", value=a["value"])
    on_b = Source(ts="1.0", block_id="fixes", value=b["value"])

    def ids(shown: list[dict[str, Any]]) -> list[str]:
        return [x["block_id"] for x in shown]

    once = approval_blocks.offer_answered(blocks, on_a, "R-1", "R-1 requested")
    assert ids(once) == ["s", "fixes", "remediation-R-1"]
    assert once[1]["elements"] == [b]  # the other button still invites its click
    both = approval_blocks.offer_answered(once, on_b, "R-2", "R-2 requested")
    assert ids(both) == ["s", "fixes", "remediation-R-1"]  # the last button: the block goes
    done = approval_blocks.offer_answered(both, on_a, "R-1", "R-1 done")
    assert ids(done) == ids(both) and done[2]["elements"][0]["text"] == "R-1 done"
    assert done[1]["elements"][0]["text"] == "R-2 requested"
    gone = Source(ts="1.0", block_id="gone", value=a["value"])
    assert approval_blocks.offer_answered(blocks, gone, "R-3", "x") == blocks


def test_two_outdated_buttons_of_one_message_each_give_way_to_their_own_line() -> None:
    """A playbook's guidance holds several offers in one actions block: each outdated one goes,
    with its own line; the rest stay."""
    values = ['{"action":"rollback"}', '{"action":"restart"}', '{"action":"scale"}']
    blocks: list[dict[str, Any]] = [
        {"type": "actions", "block_id": "offers", "elements": [
            {"type": "button", "action_id": REMEDIATION_REQUEST, "value": v} for v in values
        ]},
    ]  # fmt: skip
    for value, line in zip(values[:2], ("rolled back since", "restarted since"), strict=True):
        blocks = approval_blocks.offer_outdated(
            blocks, Source(ts="1", block_id="offers", value=value), line
        )
    assert [e["value"] for e in blocks[0]["elements"]] == [values[2]]
    lines = sorted(b["elements"][0]["text"] for b in blocks[1:])
    assert lines == ["restarted since", "rolled back since"]
    again = Source(ts="1", block_id="offers", value=values[0])  # an old copy's click: no change
    assert approval_blocks.offer_outdated(blocks, again, "again") == blocks
