"""The Slack adapter end to end: real slack-bolt/slack-sdk over HTTP against the fake Slack.

Daily post -> signed thread reply -> 👀 -> ephemeral feedback -> leaderboard; redelivery; bad
signatures; private answers; edits and deletes; 429s; huge answers; mass mentions; admin checks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from bot.clock import FrozenClock
from content.loader import QuestionBank
from storage.models import Answer, AnswerMessage, Channel
from tests.fake_slack import (
    BOT_TOKEN,
    FORBIDDEN,
    SIGNING_SECRET,
    FakeSlack,
    SlackRig,
    action_body,
    command_body,
    deleted,
    edited,
    event_callback,
    flatten,
    thread_reply,
    view_submission_body,
)

GOOD = (
    "I would send a small percentage of traffic, about 1%, to the new version with weighted routing in the "
    "load balancer. A baseline of the old version runs side by side at the same time. The analysis compares "
    "error rate and p99 latency against the baseline, and the controller will roll back automatically by "
    "setting the canary weight to zero when the canary is worse."
)
WEAK = "I would deploy it and see what happens, then decide."


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = await FakeSlack().start()
    server.add_user("U1", "Alice")
    server.add_user("U2", "Bob")
    server.add_user("UADMIN", "Olga", admin=True)
    try:
        yield server
    finally:
        await server.stop()


@pytest_asyncio.fixture
async def rig(fake: FakeSlack, db_url: str, test_bank: QuestionBank, clock: FrozenClock) -> AsyncIterator[SlackRig]:
    r = await SlackRig.start(fake, db_url, test_bank, clock, admins=["slack:S_LEADS"])
    try:
        yield r
    finally:
        await r.close()


@pytest_asyncio.fixture
async def lite(fake: FakeSlack, sqlite_url: str, test_bank: QuestionBank, clock: FrozenClock) -> AsyncIterator[SlackRig]:
    """The same rig on SQLite only, for tests whose subject is the adapter rather than storage."""
    r = await SlackRig.start(fake, sqlite_url, test_bank, clock, admins=["slack:S_LEADS"])
    try:
        yield r
    finally:
        await r.close()


async def answers(rig: SlackRig) -> list[Answer]:
    async with rig.bot.sessions() as session:
        return list((await session.execute(select(Answer).order_by(Answer.id))).scalars())


async def points_of(rig: SlackRig, name: str) -> int:
    rows = await rig.bot.board.all_time(rig.channel_id)
    return sum(r.points for r in rows if r.name == name)


async def post_time_of(rig: SlackRig) -> str:
    async with rig.bot.sessions() as session:
        channel = await session.get(Channel, rig.channel_id)
        assert channel is not None
        return channel.post_time


def ephemerals_to(fake: FakeSlack, user: str) -> list[str]:
    return fake.texts("chat.postEphemeral", lambda c: c.params.get("user") == user)


async def test_daily_post_answer_feedback_leaderboard(rig: SlackRig, fake: FakeSlack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # slack-sdk logs every request at DEBUG: tokens must still not show
    thread = await rig.post_question()
    question = fake.of("chat.postMessage")[0].params
    kinds = [b["type"] for b in question["blocks"]]
    assert kinds[0] == "header" and "actions" in kinds
    assert [e["action_id"] for e in question["blocks"][kinds.index("actions")]["elements"]] == [
        "answer_privately",
        "hint",
        "skip",
    ]

    status, ts = await rig.reply(GOOD, user="U1", file=False)
    assert status == 200
    assert await rig.bot.inbox.holds(f"slack:T1:C1:{ts}")  # held before the 200 (process_before_response)
    assert not fake.of("reactions.add")  # the 👀 means "filed as an answer", so it comes after filing
    await rig.bot.inbox.drain()
    stored = await answers(rig)
    assert len(stored) == 1 and stored[0].text == GOOD
    assert not await rig.bot.inbox.holds(f"slack:T1:C1:{ts}")
    reaction = (await fake.wait_for("reactions.add"))[0].params
    assert (reaction["name"], reaction["timestamp"], reaction["channel"]) == ("eyes", ts, "C1")

    await rig.bot.worker.run_until_idle()
    feedback = (await fake.wait_for("chat.postEphemeral", where=lambda c: c.params.get("user") == "U1"))[-1].params
    assert feedback["thread_ts"] == thread and feedback["channel"] == "C1"
    assert "/10" in flatten(feedback)
    assert not fake.of("chat.postMessage", lambda c: "/10" in flatten(c.params))  # feedback is private by default

    assert await rig.command("leaderboard") == 200
    board = (await fake.wait_for("chat.postMessage", where=lambda c: "Leaderboard" in flatten(c.params)))[-1]
    assert board.params["channel"] == "C1" and "Alice" in flatten(board.params)
    assert not fake.problems
    assert "chat.postEphemeral" in caplog.text
    assert BOT_TOKEN not in caplog.text and SIGNING_SECRET not in caplog.text


async def test_redelivered_event_counts_once_and_bad_requests_get_401(rig: SlackRig, fake: FakeSlack) -> None:
    await rig.post_question()
    body = event_callback(thread_reply(GOOD, "1800000000.000001", str(rig.thread), user="U2"))
    # The first two deliveries meet the held copy in the inbox; the last two come after it was
    # filed and meet the stored answer message instead.
    for retry in (None, 1):
        status, _ = await rig.poster.event(rig.session, body, retry_num=retry)
        assert status == 200
    assert await rig.bot.inbox.depth() == 1
    await rig.bot.inbox.drain()
    for retry in (2, 3):
        status, _ = await rig.poster.event(rig.session, body, retry_num=retry)
        assert status == 200
    await rig.bot.inbox.drain()
    assert await rig.bot.inbox.depth() == 0
    await rig.bot.worker.run_until_idle()
    await rig.adapter.chat.drain()
    assert len(await answers(rig)) == 1
    async with rig.bot.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(AnswerMessage))).scalar() == 1
    assert len(fake.of("reactions.add")) == 1
    assert len(ephemerals_to(fake, "U2")) == 1
    first_points = await points_of(rig, "Bob")
    assert first_points > 0

    other = event_callback(thread_reply("forged", "1800000000.000002", str(rig.thread), user="U2"))
    status, _ = await rig.poster.event(rig.session, other, signature="v0=" + "0" * 64)
    assert status == 401
    status, _ = await rig.poster.event(rig.session, other, timestamp=int(time.time()) - 6 * 60)
    assert status == 401
    assert len(await answers(rig)) == 1 and await points_of(rig, "Bob") == first_points


async def test_private_answer_hidden_until_reveal(rig: SlackRig, fake: FakeSlack) -> None:
    await rig.post_question()
    question_ts = str(rig.thread)
    async with rig.bot.sessions() as session:
        from storage.models import Post

        post_id = (await session.execute(select(Post.id))).scalar_one()
    status, _ = await rig.poster.interactive(rig.session, action_body("answer_privately", str(post_id), question_ts, user="U2"))
    assert status == 200
    opened = (await fake.wait_for("views.open"))[0].params
    view = opened["view"]
    box = view["blocks"][1]["element"]
    assert box["type"] == "plain_text_input" and box["multiline"] and box["max_length"] == 3000

    status, text = await rig.poster.interactive(rig.session, view_submission_body(view, GOOD, user="U2"))
    assert status == 200 and json.loads(text)["response_action"] == "update"
    stored = await answers(rig)
    assert len(stored) == 1 and stored[0].private and stored[0].text == GOOD
    await rig.bot.worker.run_until_idle()
    await rig.adapter.chat.drain()
    assert not fake.of("reactions.add")  # a public 👀 would give the private answer away
    public = " ".join(fake.texts("chat.postMessage"))
    assert "weighted routing" not in public and "Bob" not in public
    assert any("/10" in t for t in ephemerals_to(fake, "U2"))

    assert await rig.command("reveal", user="UADMIN") == 200
    reveal = (await fake.wait_for("chat.postMessage", where=lambda c: "Reveal" in flatten(c.params)))[-1]
    assert reveal.params["thread_ts"] == question_ts
    blocks = reveal.params["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    fields = [f["text"] for b in blocks for f in b.get("fields", ())]
    assert "*Answers*\n1" in fields  # the one private answer is counted at the reveal


async def test_edit_after_feedback_regrades_keeps_points_and_delete_removes_points(lite: SlackRig, fake: FakeSlack) -> None:
    rig = lite
    await rig.post_question()
    _, ts = await rig.reply(WEAK, user="U1")
    await rig.bot.worker.run_until_idle()
    weak_points = await points_of(rig, "Alice")
    assert weak_points > 0

    status, _ = await rig.poster.event(rig.session, event_callback(edited(GOOD, ts, str(rig.thread))))
    assert status == 200
    await rig.bot.worker.run_until_idle()
    # Feedback had gone out: the edit earns better feedback, not more points (issue 13, item 6).
    assert await points_of(rig, "Alice") == weak_points
    assert len(ephemerals_to(fake, "U1")) == 2  # graded again, feedback again
    assert (await answers(rig))[0].text == GOOD

    status, _ = await rig.poster.event(rig.session, event_callback(deleted(ts, str(rig.thread))))
    assert status == 200
    await rig.bot.worker.run_until_idle()
    assert await points_of(rig, "Alice") == 0
    assert (await answers(rig))[0].status == "deleted"


async def test_edit_that_overtakes_its_answer_in_the_inbox_still_applies(lite: SlackRig, fake: FakeSlack) -> None:
    rig = lite
    await rig.post_question()
    _, ts = await rig.reply(WEAK, user="U1", file=False)  # acked and held, not filed yet
    status, _ = await rig.poster.event(rig.session, event_callback(edited(GOOD, ts, str(rig.thread))))
    assert status == 200
    [answer] = await answers(rig)  # the edit filed the held message first, then applied
    assert answer.text == GOOD and answer.revision == 2
    assert await rig.bot.inbox.depth() == 0


async def test_rate_limited_post_is_retried_after_retry_after(lite: SlackRig, fake: FakeSlack) -> None:
    fake.rate_limit("chat.postMessage", times=1, retry_after=1)
    await lite.post_question()
    calls = fake.of("chat.postMessage")
    assert len(calls) == 2 and calls[1].at - calls[0].at >= 0.9
    assert lite.thread is not None


async def test_huge_answer_with_mass_mentions(lite: SlackRig, fake: FakeSlack) -> None:
    rig = lite
    fake.add_user("U3", "<!channel> Mallory <@U1> *boss*")
    await rig.post_question()
    nasty = "<!channel> <!here> <!everyone> <@U1> <#C1|general> <!subteam^S1|@leads> @channel *loud* "
    text = (nasty + GOOD + " ") * 100
    text = text[:40_000]
    assert len(text) == 40_000
    status, _ = await rig.reply(text, user="U3")
    assert status == 200
    stored = await answers(rig)
    assert len(stored) == 1 and stored[0].truncated
    await rig.bot.worker.run_until_idle()
    notes = ephemerals_to(fake, "U3")
    assert any("were kept" in t for t in notes)  # told the answer was cut
    assert any("/10" in t for t in notes)
    assert await rig.command("leaderboard") == 200
    await fake.wait_for("chat.postMessage", where=lambda c: "Leaderboard" in flatten(c.params))
    assert await rig.command("stats", user="U3") == 200
    await fake.wait_responses(1)

    assert not fake.problems, fake.problems  # every payload within Block Kit limits
    out = fake.output()
    for bad in FORBIDDEN:
        assert bad not in out, bad
    assert "@channel" not in out and "@here" not in out
    assert "Mallory" in " ".join(fake.texts("chat.postMessage"))  # the name is shown, defanged


async def test_non_admin_schedule_set_is_refused(lite: SlackRig, fake: FakeSlack) -> None:
    fake.usergroups["S_LEADS"] = ["U2"]
    assert await lite.command("schedule set time 10:00", user="U1") == 200
    refusal = (await fake.wait_responses(1))[-1]
    assert refusal["response_type"] == "ephemeral" and "admin" in flatten(refusal).lower()
    assert (await post_time_of(lite)) != "10:00"

    # A workspace admin, and a member of a listed user group: each change is confirmed and applied.
    for admin, at in (("UADMIN", "10:00"), ("U2", "10:30")):
        assert await lite.command(f"schedule set time {at}", user=admin) == 200
        confirmed = await fake.wait_for(
            "chat.postMessage", where=lambda c, at=at: f"Questions will be posted at {at}." in flatten(c.params)
        )
        assert confirmed[-1].params["channel"] == "C1"
        assert (await post_time_of(lite)) == at
    assert len(fake.responses) == 1  # only the refusal: no admin was told "is for RepBot admins"
    assert fake.of("usergroups.users.list")


async def test_hint_button_answers_privately(lite: SlackRig, fake: FakeSlack) -> None:
    await lite.post_question()
    async with lite.bot.sessions() as session:
        from storage.models import Post

        post_id = (await session.execute(select(Post.id))).scalar_one()
    status, _ = await lite.poster.interactive(lite.session, action_body("hint", str(post_id), str(lite.thread), user="U2"))
    assert status == 200
    hint = (await fake.wait_for("chat.postEphemeral", where=lambda c: c.params.get("user") == "U2"))[-1]
    assert "Hint" in flatten(hint.params)


async def test_app_home_shows_the_persons_page(lite: SlackRig, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    await lite.post_question()
    await lite.reply(GOOD, user="U1")
    await lite.bot.worker.run_until_idle()
    event = {"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home", "event_ts": "1.1"}
    body = event_callback(event)
    status, _ = await lite.poster.event(lite.session, body)
    assert status == 200
    published = (await fake.wait_for("views.publish"))[0].params
    assert published["user_id"] == "U1" and published["view"]["type"] == "home"
    assert len(published["view"]["blocks"]) <= 100 and "Alice" in flatten(published)

    # The home tab is handled lazily, after the ack: wait until the redelivery was actually seen
    # and refused, rather than counting publishes before it could have arrived.
    first_time_seen = lite.bot.first_time_seen
    redelivery_refused = asyncio.Event()

    async def recording(key: str) -> bool:
        first = await first_time_seen(key)
        if key == f"slack-event:{body['event_id']}" and not first:
            redelivery_refused.set()
        return first

    monkeypatch.setattr(lite.bot, "first_time_seen", recording)
    status, _ = await lite.poster.event(lite.session, body, retry_num=1)  # a redelivery publishes nothing new
    assert status == 200
    await asyncio.wait_for(redelivery_refused.wait(), 5)
    assert len(fake.of("views.publish")) == 1

    # A fresh opening (new event id) still publishes: exactly one more, so two in all.
    status, _ = await lite.poster.event(lite.session, event_callback(event))
    assert status == 200
    await fake.wait_for("views.publish", count=2)
    assert len(fake.of("views.publish")) == 2


async def test_direct_message_gets_a_dm_reply(lite: SlackRig, fake: FakeSlack) -> None:
    event = {"type": "message", "channel": "D1", "user": "U1", "text": "hello", "ts": "1800000001.000001", "channel_type": "im"}
    status, _ = await lite.poster.event(lite.session, event_callback(event))
    assert status == 200
    reply = (await fake.wait_for("chat.postMessage", where=lambda c: c.params.get("channel") == "D1"))[-1]
    assert flatten(reply.params).strip()


async def test_public_reply_where_the_bot_is_not_a_member_uses_response_url(lite: SlackRig, fake: FakeSlack) -> None:
    fake.not_in_channel.add("C9")
    body = command_body("leaderboard all", channel="C9", response_url=f"{fake.base}/response/c9")
    status, _ = await lite.poster.command(lite.session, body)
    assert status == 200
    reply = (await fake.wait_responses(1))[-1]
    assert reply["response_type"] == "in_channel" and "Leaderboard" in flatten(reply)
