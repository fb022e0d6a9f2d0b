"""The Discord adapter end to end: the real discord.py client against the fake Discord on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import discord
import pytest

from adapters.discord.adapter import DiscordAdapter
from bot.config import Settings
from bot.events import AnswerPosted, CommandInvoked, MessageRef, Person
from bot.intake import Outcome
from bot.messages import message, text_message
from bot.views import user_echo
from tests.discord_env import TOKEN_SECRET, DiscordEnv, discord_env, token_for
from tests.fake_discord import MANAGE_GUILD, FakeDiscord

GUILDS, GUILD_MESSAGES, DIRECT_MESSAGES, MESSAGE_CONTENT = 1 << 0, 1 << 9, 1 << 12, 1 << 15
EYES = "👀"  # the fake records decoded paths
GOOD_ANSWER = (
    "I would deploy the new version to a small canary slice of one percent of traffic, compare its error rate "
    "and latency against the baseline, and roll back automatically if the canary is worse before widening."
)


def identify(fake: FakeDiscord) -> dict[str, Any]:
    return next(f["d"] for s in fake.sessions for f in s.received if f["op"] == 2)


def spy_on_answers(env: DiscordEnv) -> list[Any]:
    """Record what the core returned for every AnswerPosted the adapter handed it."""
    outcomes: list[Any] = []
    handle = env.bot.handle

    async def recording(event: object) -> Any:
        result = await handle(event)
        if isinstance(event, AnswerPosted):
            outcomes.append(result.outcome)
        return result

    env.bot.handle = recording  # type: ignore[method-assign]
    return outcomes


def spy_on_first_time_seen(env: DiscordEnv) -> list[bool]:
    results: list[bool] = []
    first_time_seen = env.bot.first_time_seen

    async def recording(key: str) -> bool:
        results.append(await first_time_seen(key))
        return results[-1]

    env.bot.first_time_seen = recording  # type: ignore[method-assign]
    return results


def followups(env: DiscordEnv, interaction: dict[str, Any]) -> list[Any]:
    return [r for r in env.fake.interaction_calls(interaction) if r.method == "POST" and r.path.startswith("/webhooks/")]


def callbacks(env: DiscordEnv, interaction: dict[str, Any]) -> list[Any]:
    return [r for r in env.fake.interaction_calls(interaction) if r.path.endswith("/callback")]


def shown_text(record: Any) -> str:
    body = record.body or {}
    data = body.get("data", body)
    parts = [data.get("content") or ""]
    for embed in data.get("embeds") or []:
        parts += [embed.get("title") or "", embed.get("description") or "", (embed.get("footer") or {}).get("text", "")]
        parts += [f"{f['name']} {f['value']}" for f in embed.get("fields", [])]
    return "\n".join(parts)


async def test_login_ready_intents_and_global_command_sync(sqlite_url, test_bank, clock, caplog):
    caplog.set_level(logging.DEBUG)
    async with discord_env(sqlite_url, test_bank, clock) as env:
        assert env.adapter.client.is_ready()
        assert [g.id for g in env.adapter.client.guilds] == [int(env.fake.guild_id)]
        intents = identify(env.fake)["intents"]
        assert (
            intents & (GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT)
            == GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT
        )
        assert all(r.auth == f"Bot {token_for(env.fake.app_id)}" for r in env.fake.requests)
        (group,) = env.fake.commands["global"]
        assert group["name"] == "repbot"
        subcommands = {o["name"]: o for o in group["options"]}
        assert {"help", "question", "leaderboard", "stats", "interview", "schedule", "topics", "reveal", "export"} <= set(
            subcommands
        )
        assert set(env.bot.commands.table) <= set(subcommands)  # whatever the core has, Discord offers
        assert subcommands["help"]["options"] == []
        (args,) = subcommands["leaderboard"]["options"]
        assert args["name"] == "args" and args["type"] == 3 and not args.get("required")
        assert "MESSAGE_CONTENT on: thread replies are answers" in caplog.text
        assert "single gateway connection" in caplog.text
    assert TOKEN_SECRET not in caplog.text


async def test_without_message_content_intent_thread_text_is_not_an_answer(sqlite_url, test_bank, clock, caplog):
    caplog.set_level(logging.INFO)
    async with discord_env(sqlite_url, test_bank, clock, discord_message_content=False, discord_sync="guild") as env:
        assert identify(env.fake)["intents"] & MESSAGE_CONTENT == 0
        assert "MESSAGE_CONTENT off" in caplog.text
        assert set(env.fake.commands) == {env.fake.guild_id}  # development: per-guild sync only
        posted = await env.post_today()
        outcomes = spy_on_answers(env)
        # Without the intent Discord delivers thread messages with empty content.
        await env.fake.say(env.alice, posted.ref.thread_id, "")
        await asyncio.sleep(0.2)
        assert outcomes == [] and await env.answers() == []


async def test_scheduled_post_creates_embed_buttons_and_thread(sqlite_url, test_bank, clock):
    async with discord_env(sqlite_url, test_bank, clock) as env:
        posted = await env.post_today()
        (send,) = env.fake.calls("POST", rf"^/channels/{env.fake.channel_id}/messages$")
        embed = send.body["embeds"][0]
        assert embed["title"] == "Daily question: Catching a bad release with a canary"
        assert "canary" in embed["description"] and "deployment-strategies" in embed["footer"]["text"]
        buttons = [c for row in send.body["components"] for c in row["components"]]
        assert [b["label"] for b in buttons] == ["Answer privately", "Hint", "Skip"]
        assert [b["custom_id"] for b in buttons] == [f"repbot:{a}:{posted.post_id}" for a in ("answer_privately", "hint", "skip")]
        assert send.body["allowed_mentions"] == {"parse": []}
        message_id = posted.ref.message_id
        (thread,) = env.fake.calls("POST", rf"/messages/{message_id}/threads$")
        assert thread.body["name"].startswith("Daily question:")
        assert posted.ref.thread_id == message_id == next(iter(env.fake.threads))
        # The thread reached discord.py's cache through THREAD_CREATE.
        await env.fake.wait_for(lambda: env.adapter.client.get_channel(int(message_id)) is not None)


async def test_thread_message_becomes_one_answer_and_gets_feedback(db_url, test_bank, clock):
    async with discord_env(db_url, test_bank, clock) as env:
        posted = await env.post_today()
        thread = posted.ref.thread_id
        said = await env.fake.say(env.alice, thread, GOOD_ANSWER)
        reaction = rf"^/channels/{thread}/messages/{said['id']}/reactions/{EYES}/@me$"
        await env.fake.wait_for(lambda: env.fake.calls("PUT", reaction))
        (answer,) = await env.answers()
        assert answer.text == GOOD_ANSWER and not answer.private
        (stored,) = await env.answer_messages()
        assert stored.source_id == f"discord:{env.fake.guild_id}:{thread}:{said['id']}"

        await env.bot.worker.run_until_idle()
        # Feedback is private by default: a DM, because this answer came without an interaction.
        await env.fake.wait_for(lambda: env.fake.dm_channels.get(env.alice["id"]))
        dm = env.fake.dm_channels[env.alice["id"]]["id"]
        (feedback,) = env.fake.calls("POST", rf"^/channels/{dm}/messages$")
        assert "/10" in shown_text(feedback) and feedback.body["allowed_mentions"] == {"parse": []}


async def test_edit_regrades_and_delete_removes_the_answer(sqlite_url, test_bank, clock):
    async with discord_env(sqlite_url, test_bank, clock) as env:
        posted = await env.post_today()
        said = await env.fake.say(env.alice, posted.ref.thread_id, "first try")
        await env.fake.wait_for(lambda: env.fake.calls("PUT", r"/reactions/"))
        (before,) = await env.answers()
        await env.fake.edit(said, GOOD_ANSWER)

        async def revision() -> int:
            return (await env.answers())[0].revision

        for _ in range(200):
            if await revision() > before.revision:
                break
            await asyncio.sleep(0.01)
        (edited,) = await env.answers()
        assert edited.text == GOOD_ANSWER and edited.revision == before.revision + 1
        await env.fake.delete(said)
        for _ in range(200):
            if (await env.answers())[0].status == "deleted":
                break
            await asyncio.sleep(0.01)
        assert (await env.answers())[0].status == "deleted"


async def test_bot_messages_in_the_thread_are_ignored(sqlite_url, test_bank, clock):
    async with discord_env(sqlite_url, test_bank, clock) as env:
        posted = await env.post_today()
        outcomes = spy_on_answers(env)
        other_bot = env.fake.user_payload(env.fake.snowflake(), "otherbot", bot=True)
        await env.fake.say(other_bot, posted.ref.thread_id, GOOD_ANSWER)
        await env.fake.say(env.alice, posted.ref.thread_id, GOOD_ANSWER)
        await env.fake.wait_for(lambda: outcomes)
        await asyncio.sleep(0.1)
        assert outcomes == [Outcome.STORED]
        assert len(await env.answers()) == 1


async def test_resume_replaying_message_create_stores_no_duplicate(sqlite_url, test_bank, clock):
    async with discord_env(sqlite_url, test_bank, clock) as env:
        posted = await env.post_today()
        outcomes = spy_on_answers(env)
        await env.fake.say(env.alice, posted.ref.thread_id, GOOD_ANSWER)
        await env.fake.wait_for(lambda: outcomes == [Outcome.STORED])
        resumed = asyncio.Event()
        env.adapter.client.on_resumed = _async(resumed.set)  # type: ignore[attr-defined]
        env.fake.replay_on_resume = 1  # Discord re-sends the MESSAGE_CREATE after the RESUME
        await env.fake.reconnect()
        await asyncio.wait_for(resumed.wait(), 5)
        await env.fake.wait_for(lambda: len(outcomes) == 2)
        assert outcomes == [Outcome.STORED, Outcome.DUPLICATE]
        assert len(await env.answer_messages()) == 1
        assert len(env.fake.calls("PUT", r"/reactions/")) == 1


def _async(fn: Any) -> Any:
    async def handler(*args: Any) -> None:
        fn()

    return handler


async def test_slash_command_is_deferred_then_followed_up(sqlite_url, test_bank, clock):
    async with discord_env(sqlite_url, test_bank, clock) as env:
        # Discord wants the deferral within 3 s, so it must not wait for the command's work: hold
        # the core's handling of the command, and the deferral must still be sent.
        gate, reached = asyncio.Event(), asyncio.Event()
        handle = env.bot.handle

        async def held(event: object) -> Any:
            if isinstance(event, CommandInvoked):
                reached.set()
                await gate.wait()
            return await handle(event)

        env.bot.handle = held  # type: ignore[method-assign]
        try:
            interaction = await env.fake.slash(env.alice, "help")
            await asyncio.wait_for(reached.wait(), 5)
            await env.fake.wait_for(lambda: callbacks(env, interaction))
            assert not followups(env, interaction)  # deferred while the command was still being handled
        finally:
            gate.set()
        await env.fake.wait_for(lambda: followups(env, interaction))
        (callback,) = callbacks(env, interaction)
        assert callback.body["type"] == 5 and callback.body["data"]["flags"] & 64  # deferred, ephemeral
        (followup,) = followups(env, interaction)
        assert followup.at >= callback.at
        assert "RepBot commands" in shown_text(followup) and followup.body["flags"] & 64
        assert followup.body["allowed_mentions"] == {"parse": []}


async def test_public_command_reply_replaces_the_ephemeral_deferral(sqlite_url, test_bank, clock):
    async with discord_env(sqlite_url, test_bank, clock) as env:
        interaction = await env.fake.slash(env.alice, "leaderboard", {"args": "month"})
        await env.fake.wait_for(lambda: followups(env, interaction))
        calls = env.fake.interaction_calls(interaction)
        assert [c.method for c in calls] == ["POST", "DELETE", "POST"]  # defer, drop "thinking", public follow-up
        followup = calls[-1]
        assert "Leaderboard" in shown_text(followup) and not (followup.body.get("flags") or 0) & 64


async def test_non_admin_schedule_is_refused_and_manage_server_is_admin(sqlite_url, test_bank, clock):
    async with discord_env(sqlite_url, test_bank, clock) as env:
        assert env.bot.commands.table["schedule"].admin  # the core's own admin-only command
        assert (await env.channel()).post_time != "10:00"
        refused = await env.fake.slash(env.alice, "schedule", {"args": "set time 10:00"})
        await env.fake.wait_for(lambda: followups(env, refused))
        assert "is for RepBot admins" in shown_text(followups(env, refused)[0])
        assert (await env.channel()).post_time != "10:00"

        allowed = await env.fake.slash(env.bob, "schedule", {"args": "set time 10:00"}, permissions=MANAGE_GUILD)
        await env.fake.wait_for(lambda: followups(env, allowed))
        confirmation = shown_text(followups(env, allowed)[-1])
        assert "is for RepBot admins" not in confirmation
        assert "Questions will be posted at 10:00." in confirmation
        assert (await env.channel()).post_time == "10:00"


async def test_configured_admin_role_may_reveal(sqlite_url, test_bank, clock):
    fake = FakeDiscord()
    async with discord_env(sqlite_url, test_bank, clock, fake=fake, admins=[f"discord:role:{fake.mod_role_id}"]) as env:
        await env.post_today()
        plain = await env.fake.slash(env.alice, "reveal")
        await env.fake.wait_for(lambda: followups(env, plain))
        assert "is for RepBot admins" in shown_text(followups(env, plain)[0])
        moderator = await env.fake.slash(env.bob, "reveal", roles=[fake.mod_role_id])
        await env.fake.wait_for(lambda: followups(env, moderator))
        assert "Revealed." in shown_text(followups(env, moderator)[0])
        # The reveal itself goes into the question's thread.
        (thread,) = env.fake.threads
        await env.fake.wait_for(
            lambda: any("Reveal:" in shown_text(r) for r in env.fake.calls("POST", rf"^/channels/{thread}/messages$"))
        )


async def test_button_modal_submit_stores_a_private_answer_with_ephemeral_feedback(db_url, test_bank, clock):
    async with discord_env(db_url, test_bank, clock) as env:
        posted = await env.post_today()
        post_message = env.fake.messages[posted.ref.message_id]
        click = await env.fake.click(env.bob, post_message, f"repbot:answer_privately:{posted.post_id}")
        await env.fake.wait_for(lambda: callbacks(env, click))
        (opened,) = callbacks(env, click)
        assert opened.body["type"] == 9  # the modal is the first response
        modal = opened.body["data"]
        assert modal["custom_id"] == f"repbot:answer:{posted.post_id}"
        (text_input,) = [c for row in modal["components"] for c in row["components"]]
        assert text_input["style"] == 2 and text_input["max_length"] == 4000 and text_input["custom_id"] == "answer"

        submit = await env.fake.submit_modal(env.bob, modal["custom_id"], {"answer": GOOD_ANSWER})
        await env.fake.wait_for(lambda: followups(env, submit))
        (deferred,) = callbacks(env, submit)
        assert deferred.body["type"] == 5 and deferred.body["data"]["flags"] & 64
        assert "Got your answer" in shown_text(followups(env, submit)[0])
        (answer,) = await env.answers()
        assert answer.private and answer.text == GOOD_ANSWER
        assert env.fake.calls("PUT", r"/reactions/") == []  # nothing public about a private answer

        await env.bot.worker.run_until_idle()
        await env.fake.wait_for(lambda: len(followups(env, submit)) == 2)
        feedback = followups(env, submit)[1]
        assert "/10" in shown_text(feedback) and feedback.body["flags"] & 64
        assert env.fake.dm_channels == {}


async def test_hint_button_answers_ephemerally(sqlite_url, test_bank, clock):
    async with discord_env(sqlite_url, test_bank, clock) as env:
        posted = await env.post_today()
        click = await env.fake.click(env.alice, env.fake.messages[posted.ref.message_id], f"repbot:hint:{posted.post_id}")
        await env.fake.wait_for(lambda: followups(env, click))
        assert callbacks(env, click)[0].body["type"] == 5
        (hint,) = followups(env, click)
        assert shown_text(hint).startswith("Hint:") and hint.body["flags"] & 64


async def test_replayed_interaction_is_handled_once(sqlite_url, test_bank, clock):
    async with discord_env(sqlite_url, test_bank, clock) as env:
        posted = await env.post_today()
        click = await env.fake.click(env.alice, env.fake.messages[posted.ref.message_id], f"repbot:hint:{posted.post_id}")
        await env.fake.wait_for(lambda: followups(env, click))
        await env.fake.dispatch("INTERACTION_CREATE", click)  # the same interaction again, as after a resume
        await env.fake.wait_for(lambda: len(callbacks(env, click)) == 2)
        assert [c.status for c in callbacks(env, click)] == [200, 400]  # Discord: already acknowledged (40060)
        await asyncio.sleep(0.1)
        assert len(followups(env, click)) == 1


async def test_replayed_answer_button_opens_no_second_modal(sqlite_url, test_bank, clock):
    async with discord_env(sqlite_url, test_bank, clock) as env:
        posted = await env.post_today()
        seen = spy_on_first_time_seen(env)
        click = await env.fake.click(
            env.alice, env.fake.messages[posted.ref.message_id], f"repbot:answer_privately:{posted.post_id}"
        )
        await env.fake.wait_for(lambda: callbacks(env, click))
        await env.fake.dispatch("INTERACTION_CREATE", click)
        await env.fake.wait_for(lambda: len(seen) == 2)
        await asyncio.sleep(0.05)
        assert seen == [True, False] and len(callbacks(env, click)) == 1


async def test_rate_limited_send_with_via_header_is_retried(sqlite_url, test_bank, clock):
    async with discord_env(sqlite_url, test_bank, clock) as env:
        env.fake.limit_once("POST", rf"^/channels/{env.fake.channel_id}/messages$")
        posted = await env.post_today()
        sends = env.fake.calls("POST", rf"^/channels/{env.fake.channel_id}/messages$")
        assert [s.status for s in sends] == [429, 200]
        assert posted.ref.message_id in env.fake.messages


async def test_mentions_in_user_text_never_ping(sqlite_url, test_bank, clock):
    fake = FakeDiscord()
    role = fake.mod_role_id
    async with discord_env(sqlite_url, test_bank, clock, fake=fake) as env:
        posted = await env.post_today()
        # The person's display name is theirs to choose: it comes back in the reveal's "Top" line.
        env.alice["global_name"] = f"@everyone <@&{role}>"
        answer = f"@everyone @here <@&{role}> <@{env.bob['id']}> **bold** I would use a canary and roll back on errors."
        await env.fake.say(env.alice, posted.ref.thread_id, answer)
        await env.fake.wait_for(lambda: env.fake.calls("PUT", r"/reactions/"))
        await env.bot.worker.run_until_idle()
        # The answer echoed back through the core's echo block, then the reveal with the name.
        thread_ref = MessageRef(env.place, posted.ref.message_id, posted.ref.thread_id)
        await env.adapter.chat.reply(thread_ref, message(user_echo(answer)))
        await env.bot.daily.close_open((await env.channel()).id)

        thread_sends = env.fake.calls("POST", rf"^/channels/{posted.ref.thread_id}/messages$")
        echoed = [s for s in thread_sends if "canary" in shown_text(s) and "@" in shown_text(s)]
        assert len(echoed) >= 2  # the echo and the reveal's Top line
        sent = env.bot_messages()
        assert len(sent) >= 4  # question, feedback DM, echo, reveal
        for record in sent:
            assert record.body["allowed_mentions"] == {"parse": []}
            text = shown_text(record)
            for raw in ("@everyone", "@here", f"<@&{role}>", f"<@{env.bob['id']}>"):
                assert raw not in text
        echo_text = shown_text(echoed[0])
        assert "@\u200beveryone" in echo_text and f"<@\u200b&{role}>" in echo_text and "\\*\\*bold\\*\\*" in echo_text


async def test_direct_message_gets_a_reply_once(sqlite_url, test_bank, clock):
    async with discord_env(sqlite_url, test_bank, clock) as env:
        seen = spy_on_first_time_seen(env)
        dm_channel = env.fake.snowflake()
        said = await env.fake.say(env.alice, dm_channel, "hello")
        replies = rf"^/channels/{dm_channel}/messages$"
        await env.fake.wait_for(lambda: env.fake.calls("POST", replies))
        await env.fake.dispatch("MESSAGE_CREATE", said)  # a replay
        await env.fake.wait_for(lambda: len(seen) == 2)
        await asyncio.sleep(0.05)
        assert seen == [True, False]
        (reply,) = env.fake.calls("POST", replies)
        assert "Hi!" in shown_text(reply) and reply.body["allowed_mentions"] == {"parse": []}


async def test_private_reply_falls_back_to_a_content_free_thread_note_when_dms_are_closed(sqlite_url, test_bank, clock):
    async with discord_env(sqlite_url, test_bank, clock) as env:
        posted = await env.post_today()
        env.fake.dm_forbidden.add(env.alice["id"])
        alice = Person("discord", env.fake.guild_id, env.alice["id"], "Alice")
        secret = text_message("9/10: your secret feedback")
        ref = await env.adapter.chat.reply(posted.ref, secret, only_to=alice)
        assert ref is None
        (note,) = env.fake.calls("POST", rf"^/channels/{posted.ref.thread_id}/messages$")
        assert "could not send you a direct message" in note.body["content"] and "secret" not in note.body["content"]


async def test_sharded_client_identifies_each_shard_and_takes_answers(sqlite_url, test_bank, clock, caplog, monkeypatch):
    caplog.set_level(logging.INFO)

    async def no_identify_pause(self: Any, shard_id: int | None, *, initial: bool = False) -> None:
        pass  # discord.py waits 5 s between shard IDENTIFYs (Discord's limit); the fake has none

    monkeypatch.setattr(discord.AutoShardedClient, "before_identify_hook", no_identify_pause)
    async with discord_env(sqlite_url, test_bank, clock, shard_count=2, discord_shards=2) as env:
        assert "AutoShardedClient (2 shards)" in caplog.text
        shards = sorted(f["d"]["shard"] for s in env.fake.sessions for f in s.received if f["op"] == 2)
        assert shards == [[0, 2], [1, 2]]
        posted = await env.post_today()
        outcomes = spy_on_answers(env)
        await env.fake.say(env.alice, posted.ref.thread_id, GOOD_ANSWER)
        await env.fake.wait_for(lambda: outcomes == [Outcome.STORED])


async def test_refused_privileged_intent_fails_start_with_the_fix(sqlite_url, test_bank, clock):
    fake = FakeDiscord()
    fake.refuse_privileged = True
    with pytest.raises(RuntimeError, match="REPBOT_DISCORD_MESSAGE_CONTENT=false"):
        async with discord_env(sqlite_url, test_bank, clock, fake=fake):
            pass


async def test_rejected_token_fails_start_without_showing_it(sqlite_url, test_bank, clock):
    fake = FakeDiscord()
    fake.token = "the-right-token"
    with pytest.raises(RuntimeError, match="Discord rejected the bot token") as failure:
        async with discord_env(sqlite_url, test_bank, clock, fake=fake):
            pass
    assert TOKEN_SECRET not in str(failure.value)


def test_from_settings_needs_a_token():
    with pytest.raises(ValueError, match="DISCORD_TOKEN"):
        DiscordAdapter.from_settings(Settings(database_url="sqlite+aiosqlite://"))


async def test_launcher_runs_discord_from_settings_until_stopped(sqlite_url, test_bank):
    from adapters.launcher import run_platforms

    fake = await FakeDiscord().start()
    settings = Settings(
        database_url=sqlite_url,
        discord_token=token_for(fake.app_id),
        discord_api_base=fake.api_base,
        discord_gateway_url=fake.gateway_url,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_platforms(settings, test_bank, stop))
    try:
        await fake.wait_for(lambda: "global" in fake.commands or task.done(), seconds=15)
        assert not task.done()
        assert identify(fake)["intents"] & MESSAGE_CONTENT == 0  # the default: no privileged intent
    finally:
        stop.set()
        code = await asyncio.wait_for(task, 15)
        await fake.stop()
    assert code == 0
