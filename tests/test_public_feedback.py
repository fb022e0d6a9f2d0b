"""Public feedback (`schedule set feedback public`) says whose answer it grades, on every platform,
by name and without pinging anyone: the real clients against the fake Slack and the fake Discord."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from sqlalchemy import update

from bot.app import RepBot
from bot.clock import FrozenClock
from content.loader import QuestionBank
from storage.models import Channel
from tests.discord_env import discord_env
from tests.fake_slack import FORBIDDEN, FakeSlack, SlackRig, flatten

GOOD = (
    "I would deploy the new version to a small canary slice of one percent of traffic, compare its error rate "
    "and latency against the baseline, and roll back automatically if the canary is worse before widening."
)
WEAK = "I would just deploy it and watch the dashboards for a while."


async def make_public(bot: RepBot) -> None:
    async with bot.sessions() as session:
        await session.execute(update(Channel).values(feedback_public=True))
        await session.commit()


def shown(record: Any) -> str:
    body = record.body or {}
    parts = [body.get("content") or ""]
    for embed in body.get("embeds") or []:
        parts += [embed.get("title") or "", embed.get("description") or ""]
        parts += [f"{f['name']} {f['value']}" for f in embed.get("fields", [])]
    return "\n".join(parts)


async def test_discord_public_feedback_names_each_answerer_without_a_ping(sqlite_url, test_bank, clock) -> None:  # type: ignore[no-untyped-def]
    async with discord_env(sqlite_url, test_bank, clock) as env:
        posted = await env.post_today()
        await make_public(env.bot)
        thread = posted.ref.thread_id
        role = f"<@&{env.fake.mod_role_id}>"
        env.bob["global_name"] = f"@everyone {role}"  # a display name is the person's to choose
        await env.fake.say(env.alice, thread, GOOD)
        await env.fake.say(env.bob, thread, WEAK)
        await env.fake.wait_for(lambda: len(env.fake.calls("PUT", r"/reactions/")) == 2)
        await env.bot.worker.run_until_idle()

        feedback = [r for r in env.fake.calls("POST", rf"^/channels/{thread}/messages$") if "/10" in shown(r)]
        assert len(feedback) == 2
        alice = [r for r in feedback if "Alice’s answer" in shown(r)]
        bob = [r for r in feedback if "everyone" in shown(r) and "’s answer" in shown(r)]
        assert len(alice) == 1 and len(bob) == 1
        for record in feedback:
            assert record.body["allowed_mentions"] == {"parse": []}
            assert "@everyone" not in shown(record) and role not in shown(record)
            assert f"<@{env.alice['id']}>" not in shown(record) and f"<@{env.bob['id']}>" not in shown(record)


@pytest_asyncio.fixture
async def slack(sqlite_url: str, test_bank: QuestionBank, clock: FrozenClock) -> AsyncIterator[tuple[SlackRig, FakeSlack]]:
    fake = await FakeSlack().start()
    fake.add_user("U1", "Alice")
    fake.add_user("U2", "<!channel> Bob")
    rig = await SlackRig.start(fake, sqlite_url, test_bank, clock)
    try:
        yield rig, fake
    finally:
        await rig.close()
        await fake.stop()


async def test_slack_public_feedback_names_each_answerer_without_a_ping(slack: tuple[SlackRig, FakeSlack]) -> None:
    rig, fake = slack
    thread = await rig.post_question()
    await make_public(rig.bot)
    assert (await rig.reply(GOOD, user="U1"))[0] == 200
    assert (await rig.reply(WEAK, user="U2"))[0] == 200
    await rig.bot.worker.run_until_idle()
    feedback = fake.of("chat.postMessage", lambda c: "/10" in flatten(c.params))
    assert len(feedback) == 2 and all(c.params.get("thread_ts") == thread for c in feedback)
    texts = [flatten(c.params) for c in feedback]
    assert sum("Alice’s answer" in t for t in texts) == 1
    assert sum("Bob’s answer" in t for t in texts) == 1
    assert not fake.of("chat.postEphemeral", lambda c: "/10" in flatten(c.params))
    for call in feedback:
        raw = str(call.params)
        assert not any(control in raw for control in FORBIDDEN)
