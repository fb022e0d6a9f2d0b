"""Slack connection modes and operations: Socket Mode, multi-workspace OAuth install, per-channel
pacing of the fan-out, `repbot doctor`, and a SIGKILL right after the 200 (the answer is stored)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import pytest_asyncio
from aiohttp import ClientError, ClientSession
from sqlalchemy import select

from adapters.slack.adapter import SlackAdapter
from adapters.slack.doctor import slack_doctor
from bot.app import RepBot
from bot.clock import FrozenClock, SystemClock
from bot.config import Settings
from bot.daily import schedule_of
from bot.events import CommandInvoked, Place
from bot.messages import text_message
from content.loader import QuestionBank
from storage.db import inbox_url, make_engine, make_sessionmaker
from storage.models import Answer, AnswerMessage, Channel, InboxMessage
from tests.fake_slack import (
    APP_TOKEN,
    BOT_SCOPES,
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlack,
    SignedPoster,
    Team,
    command_body,
    event_callback,
    flatten,
    thread_reply,
)

ROOT = Path(__file__).resolve().parents[1]
GOOD = "A canary gets 1% of traffic through the load balancer next to a baseline; error rate and p99 decide, and it rolls back automatically."


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = await FakeSlack().start()
    server.add_user("U1", "Alice")
    try:
        yield server
    finally:
        await server.stop()


async def post_question(bot: RepBot, place: Place) -> str:
    channel = await bot.daily.ensure_channel(place, "general")
    day = schedule_of(channel).local_day(bot.clock.now())
    posted = await bot.daily.post_daily(channel.id, day, "test-canary")
    assert posted is not None and posted.ref.thread_id
    return posted.ref.thread_id


async def stored_answers(bot: RepBot) -> list[Answer]:
    async with bot.sessions() as session:
        return list((await session.execute(select(Answer))).scalars())


async def test_socket_mode_answer_and_command(
    fake: FakeSlack, sqlite_url: str, test_bank: QuestionBank, clock: FrozenClock
) -> None:
    settings = Settings(
        database_url=sqlite_url,
        slack_bot_token=BOT_TOKEN,
        slack_app_token=APP_TOKEN,
        slack_api_url=fake.api_url,
        quiet_period_seconds=0,
    )
    adapter = SlackAdapter.from_settings(settings)
    assert adapter.config.mode == "socket"
    bot = RepBot(settings, adapter.chat, clock=clock, bank=test_bank)
    await bot.prepare()
    await adapter.start(bot)
    try:
        thread = await post_question(bot, Place("slack", "T1", "C1"))
        ack = await fake.send_envelope(
            "events_api", event_callback(thread_reply(GOOD, "1800000000.000001", thread)), retry_attempt=0
        )
        assert ack["envelope_id"].startswith("env-")
        assert await bot.inbox.holds("slack:T1:C1:1800000000.000001")  # acked only after it was held
        await bot.inbox.drain()
        stored = await stored_answers(bot)
        assert len(stored) == 1 and stored[0].text == GOOD
        assert (await fake.wait_for("reactions.add"))[0].params["timestamp"] == "1800000000.000001"
        # Slack Socket Mode redelivery: same payload with retry_attempt -> still one answer.
        await fake.send_envelope("events_api", event_callback(thread_reply(GOOD, "1800000000.000001", thread)), retry_attempt=1)
        await bot.inbox.drain()
        assert len(await stored_answers(bot)) == 1

        body = command_body("help", response_url=f"{fake.base}/response/sm1")
        # Slack wants the ack within 3 seconds, so it must not wait for the command's work:
        # hold the core's handling of the command and the ack must still arrive.
        gate, reached = asyncio.Event(), asyncio.Event()
        handle = bot.handle

        async def held(event: object) -> object:
            if isinstance(event, CommandInvoked):
                reached.set()
                await gate.wait()
            return await handle(event)

        bot.handle = held  # type: ignore[method-assign]
        try:
            ack = await fake.send_envelope("slash_commands", body)
            assert ack["envelope_id"].startswith("env-")
            await asyncio.wait_for(reached.wait(), 5)  # the command did reach the (held) core
            assert not fake.responses  # acknowledged while the command was still being handled
        finally:
            gate.set()
        help_reply = (await fake.wait_responses(1))[0]
        assert help_reply["response_type"] == "ephemeral" and "leaderboard" in flatten(help_reply)
        assert fake.of("apps.connections.open")
    finally:
        await adapter.stop()
        await bot.stop()


@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")  # slack-sdk's oauth.v2.access call
async def test_oauth_install_serves_a_second_workspace(
    fake: FakeSlack, db_url: str, test_bank: QuestionBank, clock: FrozenClock
) -> None:
    settings = Settings(
        database_url=db_url,
        slack_client_id="111.222",
        slack_client_secret="client-secret-value",
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake.api_url,
        slack_mode="http",
        slack_port=0,
        quiet_period_seconds=0,
    )
    assert settings.slack_enabled and "client-secret-value" in settings.secrets()
    adapter = SlackAdapter.from_settings(settings, host="127.0.0.1")
    assert adapter.config.oauth is not None and adapter.config.bot_token is None
    bot = RepBot(settings, adapter.chat, clock=clock, bank=test_bank)
    await bot.prepare()
    await adapter.start(bot)
    fake.teams["xoxb-team-two"] = Team("T2", "Team Two", "UBOT2", "B2")
    fake.oauth_grants["code-1"] = {
        "ok": True,
        "app_id": "A1",
        "authed_user": {"id": "U9"},
        "scope": BOT_SCOPES,
        "token_type": "bot",
        "access_token": "xoxb-team-two",
        "bot_user_id": "UBOT2",
        "team": {"id": "T2", "name": "Team Two"},
        "enterprise": None,
        "is_enterprise_install": False,
    }
    base = f"http://127.0.0.1:{adapter.port}"
    try:
        async with ClientSession() as http:
            async with http.get(f"{base}/slack/install", allow_redirects=False) as page:
                assert page.status in (200, 302)
                cookie = page.headers["Set-Cookie"].split(";", 1)[0]
                body = await page.text()
            location = page.headers.get("Location") or body[body.index("https://slack.com/oauth/v2/authorize") :].split('"', 1)[0]
            query = parse_qs(urlparse(location.replace("&amp;", "&")).query)
            assert "chat:write" in query["scope"][0] and query["client_id"] == ["111.222"]
            state = query["state"][0]
            async with http.get(
                f"{base}/slack/oauth_redirect", params={"code": "code-1", "state": state}, headers={"Cookie": cookie}
            ) as done:
                assert done.status == 200, await done.text()
            bot_row = await adapter.installations.async_find_bot(enterprise_id=None, team_id="T2")  # type: ignore[union-attr]
            assert bot_row is not None and bot_row.bot_token == "xoxb-team-two"

            thread = await post_question(bot, Place("slack", "T2", "C2"))
            assert fake.of("chat.postMessage")[-1].token == "xoxb-team-two"
            poster = SignedPoster(f"{base}/slack/events")
            reply = event_callback(thread_reply(GOOD, "1800000000.000009", thread, channel="C2"), team="T2", bot_user="UBOT2")
            status, _ = await poster.event(http, reply)
            assert status == 200
            await bot.inbox.drain()
            assert len(await stored_answers(bot)) == 1
            reaction = (await fake.wait_for("reactions.add"))[0]
            assert reaction.token == "xoxb-team-two"
            # Later requests from the workspace are authorized from the cache: no auth.test before the ack.
            before = len(fake.of("auth.test", lambda c: c.token == "xoxb-team-two"))
            for n in (10, 11):
                more = event_callback(
                    thread_reply(GOOD, f"1800000000.0000{n}", thread, channel="C2"), team="T2", bot_user="UBOT2"
                )
                assert (await poster.event(http, more))[0] == 200
            assert len(fake.of("auth.test", lambda c: c.token == "xoxb-team-two")) == before
    finally:
        await adapter.stop()
        await bot.stop()


async def test_fan_out_keeps_one_message_per_second_per_channel(fake: FakeSlack, sqlite_url: str) -> None:
    adapter = SlackAdapter.from_settings(
        Settings(database_url=sqlite_url, slack_bot_token=BOT_TOKEN, slack_app_token=APP_TOKEN, slack_api_url=fake.api_url)
    )
    places = [Place("slack", "T1", f"C{i}") for i in range(4)]
    await asyncio.gather(*(adapter.chat.post(p, text_message(f"msg {n}")) for n in range(3) for p in places))
    per_channel = []
    for place in places:
        times = [c.at for c in fake.of("chat.postMessage", lambda c, ch=place.channel: c.params["channel"] == ch)]
        assert len(times) == 3
        assert all(b - a >= 0.9 for a, b in zip(times, times[1:], strict=False)), times
        per_channel.append(times)
    # Channels are paced independently, not one after another: every channel's first message
    # went out before any channel's second (an ordering, so machine load cannot make it flaky).
    assert max(t[0] for t in per_channel) < min(t[1] for t in per_channel)


async def test_doctor_reports_token_scopes_and_channels(fake: FakeSlack, sqlite_url: str) -> None:
    fake.teams[BOT_TOKEN].scopes = BOT_SCOPES.replace(",files:write", "").replace(",usergroups:read", "")
    fake.bot_channels = [{"id": "C1", "name": "general"}, {"id": "C7", "name": "release-eng"}]
    settings = Settings(database_url=sqlite_url, slack_bot_token=BOT_TOKEN, slack_app_token=APP_TOKEN, slack_api_url=fake.api_url)
    lines = await slack_doctor(settings)
    text = "\n".join(lines)
    assert "token valid for workspace Team One" in text
    assert any("FAIL" in line and "files:write" in line and "usergroups:read" in line for line in lines)
    assert "#general (C1)" in text and "#release-eng (C7)" in text
    assert "Socket Mode app token valid" in text
    assert BOT_TOKEN not in text and APP_TOKEN not in text

    fake.teams[BOT_TOKEN].scopes = BOT_SCOPES
    assert not [line for line in await slack_doctor(settings) if "FAIL" in line]

    wrong = settings.model_copy(update={"slack_bot_token": settings.slack_app_token})
    lines = await slack_doctor(wrong)
    assert any("FAIL" in line and "invalid_auth" in line for line in lines)


async def test_doctor_cli_exit_code(fake: FakeSlack, tmp_path: Path) -> None:
    fake.teams[BOT_TOKEN].scopes = "chat:write"
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_API_URL": fake.api_url,
        "REPBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'doctor.db'}",
    }
    env.pop("DISCORD_TOKEN", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "doctor",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1, err.decode()
    assert "missing scopes" in out.decode() and BOT_TOKEN not in out.decode()


# What `repbot run` does (adapters.launcher.run_platforms: Slack adapter from the environment, RepBot,
# scheduler, grading worker), with the small test bank instead of loading the bundled one.
RUNNER = """
import asyncio
from adapters.launcher import run_platforms
from bot.config import Settings
from content.loader import QuestionBank, load_file
from pathlib import Path
questions, _ = load_file(Path("tests/data/bank/test-bank.yaml"))
asyncio.run(run_platforms(Settings(), QuestionBank({q.id: q for q in questions})))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_answer_is_stored_before_the_200_survives_sigkill(
    fake: FakeSlack, sqlite_url: str, test_bank: QuestionBank
) -> None:
    port = free_port()
    base = {
        "database_url": sqlite_url,
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": fake.api_url,
        "slack_mode": "http",
    }
    settings = Settings(**base)
    # The question is posted through the adapter's Chat first, so its thread exists.
    poster_bot = RepBot(settings, SlackAdapter.from_settings(settings).chat, clock=SystemClock(), bank=test_bank)
    await poster_bot.prepare()
    thread = await post_question(poster_bot, Place("slack", "T1", "C1"))
    await poster_bot.engine.dispose()

    env = {
        **os.environ,
        "REPBOT_DATABASE_URL": sqlite_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake.api_url,
        "REPBOT_SLACK_MODE": "http",
        "REPBOT_SLACK_PORT": str(port),
        "REPBOT_QUIET_PERIOD_SECONDS": "600",
        "REPBOT_LOG_LEVEL": "WARNING",
    }
    env.pop("DISCORD_TOKEN", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", RUNNER, cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    poster = SignedPoster(f"http://127.0.0.1:{port}/slack/events")
    texts = [f"{GOOD} (answer {i})" for i in range(3)]
    try:
        async with ClientSession() as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    async with http.get(poster.url) as probe:
                        if probe.status:
                            break
                except ClientError:
                    if proc.returncode is not None or time.monotonic() > deadline:
                        err = (await proc.stderr.read()).decode() if proc.stderr else ""
                        pytest.fail(f"repbot run did not start: {err[-2000:]}")
                    await asyncio.sleep(0.1)
            for i, text in enumerate(texts):
                payload = event_callback(thread_reply(text, f"1800000000.00010{i}", thread, user="U1"))
                status, _ = await poster.event(http, payload)
                assert status == 200
            proc.send_signal(signal.SIGKILL)  # the instant the last 200 arrived
        assert await proc.wait() == -signal.SIGKILL
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    # Killed the instant the last 200 arrived: all three are stored (held in the inbox, or
    # already filed as the answer if the inbox task got to them first).
    engine, held_engine = make_engine(sqlite_url), make_engine(inbox_url(sqlite_url))
    try:
        async with make_sessionmaker(held_engine)() as session:
            held = list((await session.execute(select(InboxMessage.payload))).scalars())
        async with make_sessionmaker(engine)() as session:
            filed = list((await session.execute(select(AnswerMessage.text))).scalars())
        assert all(any(t in p for p in held) or t in filed for t in texts)
    finally:
        await engine.dispose()
        await held_engine.dispose()

    # The next start files what the killed process held: one answer with all three messages.
    restarted = RepBot(settings, SlackAdapter.from_settings(settings).chat, clock=SystemClock(), bank=test_bank)
    await restarted.start(schedule=False, grade_in_background=False)
    try:
        await restarted.inbox.drain()
        async with restarted.sessions() as session:
            answer = (await session.execute(select(Answer))).scalar_one()
            channel = (await session.execute(select(Channel))).scalar_one()
        assert channel.channel_ref == "C1"
        assert all(t in answer.text for t in texts)  # all three messages, merged into the one answer
        assert await restarted.inbox.depth() == 0
    finally:
        await restarted.stop()


async def test_chat_port_dm_update_files_and_ephemeral_fallback(fake: FakeSlack, sqlite_url: str) -> None:
    from bot.events import MessageRef, Person
    from bot.messages import Attachment, Image, Section, message

    adapter = SlackAdapter.from_settings(
        Settings(database_url=sqlite_url, slack_bot_token=BOT_TOKEN, slack_app_token=APP_TOKEN, slack_api_url=fake.api_url)
    )
    chat = adapter.chat
    alice = Person("slack", "T1", "U1", "Alice")
    place = Place("slack", "T1", "C1")

    ref = await chat.post(place, message(Section.of("weekly chart"), Image(b"\x89PNG-bytes", "points per week", "week.png")))
    assert ref.message_id == ref.thread_id == fake.of("chat.postMessage")[-1].params["ts"]
    complete = (await fake.wait_for("files.completeUploadExternal"))[-1].params
    assert complete["channel_id"] == "C1" and complete["thread_ts"] == ref.message_id
    assert b"\x89PNG-bytes" in fake.uploads.values()

    dm = await chat.dm(alice, message(Section.of("your interview starts")))
    assert dm is not None and dm.place.is_dm and dm.place.channel == "DU1"
    assert fake.of("conversations.open")[-1].params["users"] == "U1"

    await chat.update(ref, message(Section.of("edited")))
    update = fake.of("chat.update")[-1].params
    assert update["ts"] == ref.message_id and "edited" in flatten(update)

    fake.absent_users.add("U1")
    await chat.reply(
        MessageRef(place, ref.message_id, ref.thread_id),
        message(Section.of("private note"), Attachment(b"a,b", "x.csv")),
        only_to=alice,
    )
    sent_to_dm = fake.of("chat.postMessage", lambda c: c.params["channel"] == "DU1")
    assert any("private note" in flatten(c.params) for c in sent_to_dm)  # fell back to a DM
    assert b"a,b" in fake.uploads.values()
    assert not fake.problems
