"""No silent failures in the platform layer: supervised background tasks, gateway closes that no
reconnect can fix, refused Slack tokens, SIGTERM in every state, and answers written while the
Discord gateway could not resume.

The process-level tests run `repbot run` as a real child process against the fake Slack and the
fake Discord served from this test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.supervise import Backoff, Fatal, Supervisor
from storage.models import AnswerMessage
from tests.discord_env import TOKEN_SECRET, discord_env, token_for
from tests.fake_discord import FakeDiscord
from tests.fake_slack import APP_TOKEN, BOT_TOKEN, FakeSlack

ROOT = Path(__file__).resolve().parents[1]
GOOD = (
    "I would deploy the new version to a small canary slice of one percent of traffic, compare its error rate "
    "and latency against the baseline, and roll back automatically if the canary is worse before widening."
)
GOOD_TOO = (
    "Send one percent of the traffic to a canary next to a baseline, compare error rate and p99 latency, "
    "and roll back automatically when the canary is worse; widen step by step otherwise."
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 15.0) -> None:
    async with asyncio.timeout(seconds):
        while not await check():
            await asyncio.sleep(0.05)


# -- the supervisor itself ------------------------------------------------------------------------


async def test_a_task_that_dies_is_logged_once_per_exit_and_restarted(caplog: pytest.LogCaptureFixture) -> None:
    runs: list[int] = []
    again = asyncio.Event()

    async def flaky() -> None:
        runs.append(1)
        if len(runs) < 3:
            raise ValueError(f"boom {len(runs)}")
        again.set()
        await asyncio.Event().wait()  # the third run stays up

    supervisor = Supervisor(Backoff(initial=0.01, maximum=0.02))
    supervisor.spawn("flaky", flaky)
    try:
        await asyncio.wait_for(again.wait(), 5)
    finally:
        await supervisor.close()
    lines = [r for r in caplog.records if "background task flaky stopped unexpectedly" in r.getMessage()]
    assert [("boom 1" in r.getMessage(), "boom 2" in r.getMessage()) for r in lines] == [(True, False), (False, True)]
    assert supervisor.fatal is None and len(runs) == 3


async def test_a_fatal_task_stops_everything_with_its_line(caplog: pytest.LogCaptureFixture) -> None:
    async def revoked() -> None:
        raise Fatal("Slack refused SLACK_APP_TOKEN (token_revoked): set SLACK_APP_TOKEN")

    supervisor = Supervisor(Backoff(initial=0.01))
    supervisor.spawn("client", revoked)
    await asyncio.wait_for(supervisor.failed.wait(), 5)
    await supervisor.close()
    assert str(supervisor.fatal).startswith("Slack refused SLACK_APP_TOKEN")
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(critical) == 1 and "SLACK_APP_TOKEN" in critical[0].getMessage()


async def test_a_task_that_ends_because_the_bot_stops_is_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    stop, runs = asyncio.Event(), []

    async def until_stopped() -> None:
        runs.append(1)
        await stop.wait()

    supervisor = Supervisor(Backoff(initial=0.01))
    supervisor.spawn("inbox", until_stopped)
    await asyncio.sleep(0.05)
    supervisor.shutting_down()  # RepBot.stop: then its stop event ends the tasks
    stop.set()
    await asyncio.sleep(0.1)
    await supervisor.close()
    assert runs == [1] and not [r for r in caplog.records if "stopped unexpectedly" in r.getMessage()]


# -- `repbot run` as a child process ----------------------------------------------------------------


class BotProcess:
    def __init__(self, proc: asyncio.subprocess.Process):
        self.proc = proc
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    async def wait_for_line(self, fragment: str, seconds: float = 60.0) -> None:
        async def seen() -> bool:
            if self.proc.returncode is not None:
                raise AssertionError(f"repbot run exited early ({self.proc.returncode}):\n{self.stderr[-3000:]}")
            return any(fragment in line for line in self.lines)

        try:
            await eventually(seen, seconds)
        except TimeoutError:
            raise AssertionError(f"never logged {fragment!r}:\n{self.stderr[-3000:]}") from None

    async def exit_code(self, seconds: float = 30.0) -> int:
        try:
            code = await asyncio.wait_for(self.proc.wait(), seconds)
        except TimeoutError:
            raise AssertionError(f"repbot run still running after {seconds:g} s:\n{self.stderr[-3000:]}") from None
        await self._reader
        return code


@contextlib.asynccontextmanager
async def repbot_run(tmp_path: Path, env: dict[str, str]) -> AsyncIterator[BotProcess]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("REPBOT_", "SLACK_", "DISCORD_"))}
    base.update(
        {
            "PYTHONPATH": str(ROOT),
            "REPBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'repbot.db'}",
            "REPBOT_LOG_LEVEL": "INFO",
        }
    )
    base.update(env)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        cwd=tmp_path,
        env=base,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    bot = BotProcess(proc)
    try:
        yield bot
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def discord_settings(fake: FakeDiscord, **extra: str) -> dict[str, str]:
    return {
        "DISCORD_TOKEN": token_for(fake.app_id),
        "REPBOT_DISCORD_API_BASE": fake.api_base,
        "REPBOT_DISCORD_GATEWAY_URL": fake.gateway_url,
        **extra,
    }


def slack_settings(api_url: str, **extra: str) -> dict[str, str]:
    return {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, "SLACK_API_URL": api_url, **extra}


@pytest.mark.parametrize(
    ("code", "names"),
    [(4004, ("4004", "DISCORD_TOKEN", "Reset Token")), (4014, ("MESSAGE_CONTENT", "Privileged Gateway Intents"))],
)
async def test_gateway_closed_for_good_after_ready_exits_non_zero_with_the_fix(
    tmp_path: Path, code: int, names: tuple[str, ...]
) -> None:
    fake = await FakeDiscord().start()
    try:
        env = discord_settings(fake, REPBOT_DISCORD_MESSAGE_CONTENT="true")
        async with repbot_run(tmp_path, env) as bot:
            await bot.wait_for_line("discord adapter started")
            await fake.close_gateway(code)  # a token reset / the intent switched off, while running
            assert await bot.exit_code() == 1
    finally:
        await fake.stop()
    fix = [line for line in bot.lines if all(n in line for n in names)]
    assert len(fix) == 1, bot.stderr
    assert "Traceback" not in bot.stderr and TOKEN_SECRET not in bot.stderr


async def test_refused_slack_app_token_stops_start_up_with_one_line(tmp_path: Path) -> None:
    fake = await FakeSlack(app_token="xapp-1-A1-the-current-one").start()  # ours was revoked
    try:
        async with repbot_run(tmp_path, slack_settings(fake.api_url)) as bot:
            code = await bot.exit_code()
    finally:
        await fake.stop()
    assert code != 0
    named = [line for line in bot.lines if "SLACK_APP_TOKEN" in line]
    assert len(named) == 1 and "invalid_auth" in named[0], bot.stderr
    assert "Traceback" not in bot.stderr and APP_TOKEN not in bot.stderr


async def test_refused_slack_bot_token_stops_socket_mode_start_up_with_one_line(tmp_path: Path) -> None:
    fake = await FakeSlack().start()
    try:
        async with repbot_run(tmp_path, slack_settings(fake.api_url, SLACK_BOT_TOKEN="xoxb-revoked-token")) as bot:
            code = await bot.exit_code()
    finally:
        await fake.stop()
    assert code != 0
    named = [line for line in bot.lines if "SLACK_BOT_TOKEN" in line]
    assert len(named) == 1 and "invalid_auth" in named[0], bot.stderr
    assert "Traceback" not in bot.stderr
    assert not fake.of("apps.connections.open")  # stopped before connecting


async def test_slack_outage_at_start_is_one_line_and_503_then_connects(tmp_path: Path) -> None:
    slack_port, port = free_port(), free_port()
    fake: FakeSlack | None = None
    try:
        env = slack_settings(f"http://127.0.0.1:{slack_port}/api/", REPBOT_HTTP_PORT=str(port))
        async with repbot_run(tmp_path, env) as bot:
            await bot.wait_for_line("Slack auth.test failed")
            status, body = await _get(port, "/healthz")
            assert status == 503 and body["checks"]["slack"]["ok"] is False
            assert "cannot reach Slack" in body["checks"]["slack"]["detail"]
            await asyncio.sleep(3.5)  # let it retry a few times (after 1 s, 2 s) while Slack is away
            fake = await FakeSlack(port=slack_port).start()  # Slack is back
            await bot.wait_for_line("slack adapter started")
            status, body = await _get(port, "/readyz")
            assert status == 200 and body["checks"]["slack"]["ok"] is True
            bot.proc.send_signal(signal.SIGTERM)
            assert await bot.exit_code() == 0
    finally:
        if fake is not None:
            await fake.stop()
    assert len([line for line in bot.lines if "auth.test failed" in line]) == 1, bot.stderr
    assert any("Slack reachable again" in line for line in bot.lines)
    assert "Traceback" not in bot.stderr


async def _get(port: int, path: str) -> tuple[int, Any]:
    from aiohttp import ClientSession

    async with ClientSession() as http, http.get(f"http://127.0.0.1:{port}{path}") as resp:
        return resp.status, await resp.json()


async def _silent_server() -> tuple[asyncio.Server, int]:
    """Accepts connections and never answers: a gateway or API that hangs."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize("state", ["slack-unreachable", "slack-connected", "discord-gateway-hangs", "discord-connected"])
async def test_sigterm_ends_the_process_in_every_state(tmp_path: Path, state: str) -> None:
    slack, discord_fake = await FakeSlack().start(), await FakeDiscord().start()
    silent, silent_port = await _silent_server()
    settings, ready_line = {
        "slack-unreachable": (slack_settings(f"http://127.0.0.1:{free_port()}/api/"), "Slack auth.test failed"),
        "slack-connected": (slack_settings(slack.api_url), "slack adapter started"),
        "discord-gateway-hangs": (
            {**discord_settings(discord_fake), "REPBOT_DISCORD_GATEWAY_URL": f"ws://127.0.0.1:{silent_port}/gateway"},
            "Discord adapter: single gateway connection",
        ),
        "discord-connected": (discord_settings(discord_fake), "discord adapter started"),
    }[state]
    port = free_port()
    try:
        async with repbot_run(tmp_path, {**settings, "REPBOT_HTTP_PORT": str(port)}) as bot:
            await bot.wait_for_line(ready_line)
            status, body = await _get(port, "/healthz")
            platform = "slack" if state.startswith("slack") else "discord"
            assert body["checks"][platform]["ok"] is state.endswith("connected"), body  # 503 until connected
            assert status == (200 if state.endswith("connected") else 503)
            bot.proc.send_signal(signal.SIGTERM)
            assert await bot.exit_code(seconds=20) == 0
    finally:
        silent.close()
        await slack.stop()
        await discord_fake.stop()
    assert "Traceback" not in bot.stderr


# -- Discord: disconnects in a running bot --------------------------------------------------------


async def test_plain_gateway_disconnect_reconnects_and_answers_flow(sqlite_url, test_bank, clock) -> None:  # type: ignore[no-untyped-def]
    async with discord_env(sqlite_url, test_bank, clock) as env:
        first = env.fake.live[0]
        await env.fake.close_gateway(4000)  # a plain disconnect: discord.py resumes
        await env.fake.wait_for(lambda: env.fake.live[0] is not first and any(f["op"] == 6 for f in env.fake.live[0].received))

        async def connected() -> bool:
            return (await env.bot.health.report()).checks["discord"].ok

        await eventually(connected)
        posted = await env.post_today()
        await env.fake.say(env.alice, posted.ref.thread_id, GOOD)

        async def stored() -> bool:
            return len(await env.answers()) == 1

        await eventually(stored)
        assert env.bot.supervisor.fatal is None


async def test_answers_written_during_a_non_resumable_disconnect_are_filed_once(sqlite_url, test_bank, clock) -> None:  # type: ignore[no-untyped-def]
    async with discord_env(sqlite_url, test_bank, clock) as env:
        posted = await env.post_today()
        thread = posted.ref.thread_id
        await env.fake.say(env.alice, thread, GOOD)

        def messages(n: int) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                return len(await env.answer_messages()) == n

            return check

        await eventually(messages(1))
        env.fake.refuse_resume = True  # away too long: Discord answers the RESUME with a new session
        missed = env.fake.say_unseen(env.bob, thread, GOOD_TOO)
        sessions = len(env.fake.sessions)
        await env.fake.close_gateway(4000)
        await env.fake.wait_for(lambda: len(env.fake.sessions) > sessions, seconds=15)
        await eventually(messages(2))

        # Another new session reads the same history again: nothing is filed twice.
        sessions = len(env.fake.sessions)
        await env.fake.close_gateway(4000)
        await env.fake.wait_for(lambda: len(env.fake.sessions) > sessions, seconds=15)
        await env.fake.wait_for(lambda: len(env.fake.calls("GET", rf"/channels/{thread}/messages")) >= 2, seconds=15)
        # Both messages read again were recognised (Alice's once after the first read, then both).
        await env.fake.wait_for(lambda: env.bot.metrics.count("repbot_answers_duplicate_total") == 3, seconds=15)
        async with env.bot.sessions() as session:
            rows = (await session.execute(select(AnswerMessage.source_id))).scalars().all()
        assert sorted(rows) == sorted(
            f"discord:{env.fake.guild_id}:{thread}:{m}" for m in (missed["id"], _first_message(env.fake, thread, env.alice))
        )
        assert len(await env.answers()) == 2  # alice's and bob's
        assert len(env.fake.calls("PUT", r"/reactions/")) == 2  # one 👀 each, none again


def _first_message(fake: FakeDiscord, channel: str, user: dict[str, Any]) -> str:
    return next(m["id"] for m in fake.messages.values() if m["channel_id"] == channel and m["author"]["id"] == user["id"])


async def test_a_wrong_combination_of_settings_stops_with_one_line(tmp_path: Path) -> None:
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,  # Socket Mode...
        "SLACK_CLIENT_ID": "111.222",  # ...with a multi-workspace install, which needs HTTP mode
        "SLACK_CLIENT_SECRET": "client-secret-value",
        "SLACK_API_URL": f"http://127.0.0.1:{free_port()}/api/",
    }
    async with repbot_run(tmp_path, env) as bot:
        assert await bot.exit_code() == 2
    assert len(bot.lines) == 1, bot.stderr
    assert "SLACK_CLIENT_ID" in bot.lines[0] and "REPBOT_SLACK_MODE=http" in bot.lines[0]


# -- Slack Socket Mode: answers Slack did not redeliver after a reconnect -------------------------


async def test_slack_answers_written_while_the_socket_was_down_are_filed_once(sqlite_url, test_bank, clock) -> None:  # type: ignore[no-untyped-def]
    from adapters.slack.adapter import SlackAdapter
    from bot.app import RepBot
    from bot.config import Settings
    from bot.daily import schedule_of
    from bot.events import Place
    from tests.fake_slack import event_callback, thread_reply

    fake = await FakeSlack().start()
    fake.add_user("U1", "Alice")
    fake.add_user("U2", "Bob")
    settings = Settings(database_url=sqlite_url, slack_bot_token=BOT_TOKEN, slack_app_token=APP_TOKEN, slack_api_url=fake.api_url)
    adapter = SlackAdapter.from_settings(settings)
    bot = RepBot(settings, adapter.chat, clock=clock, bank=test_bank)
    await bot.prepare()
    await adapter.start(bot)
    try:
        channel = await bot.daily.ensure_channel(Place("slack", "T1", "C1"), "general")
        posted = await bot.daily.post_daily(channel.id, schedule_of(channel).local_day(clock.now()), "test-canary")
        assert posted is not None and posted.ref.thread_id
        thread = posted.ref.thread_id
        # Alice answers live; Bob answers while the connection is down and Slack never redelivers it.
        await fake.send_envelope("events_api", event_callback(thread_reply(GOOD, "1800000000.000001", thread)))
        fake.write_unseen("C1", thread, "1800000000.000001", GOOD)  # history has Alice's too
        fake.write_unseen("C1", thread, "1800000000.000002", GOOD_TOO, user="U2")

        async def stored(n: int) -> bool:
            await bot.inbox.drain()
            async with bot.sessions() as session:
                return len((await session.execute(select(AnswerMessage.source_id))).scalars().all()) == n

        async def reconnect_and_read() -> None:
            replies = len(fake.of("conversations.replies"))
            await fake.drop_socket()

            async def read_again() -> bool:
                return len(fake.of("conversations.replies")) > replies

            await eventually(read_again, seconds=30)

        def duplicates(n: int) -> Callable[[], Awaitable[bool]]:
            async def seen() -> bool:
                await bot.inbox.drain()
                return bot.metrics.count("repbot_answers_duplicate_total") == n

            return seen

        await reconnect_and_read()
        await eventually(lambda: stored(2), seconds=10)
        await eventually(duplicates(1))  # Alice's, read again, was recognised
        await reconnect_and_read()  # the same history again: nothing doubles
        await eventually(duplicates(3))
        async with bot.sessions() as session:
            rows = sorted((await session.execute(select(AnswerMessage.source_id))).scalars().all())
        assert rows == ["slack:T1:C1:1800000000.000001", "slack:T1:C1:1800000000.000002"]
        assert len(fake.of("reactions.add")) == 2
    finally:
        await adapter.stop()
        await bot.stop()
        await fake.stop()


async def test_slack_app_token_revoked_while_running_stops_with_one_line(sqlite_url, test_bank, clock, caplog) -> None:  # type: ignore[no-untyped-def]
    # At the default level: another test in the same worker may have left the root logger at DEBUG,
    # where slack-sdk's per-attempt lines are shown on purpose.
    caplog.set_level(logging.INFO)
    from adapters.slack.adapter import SlackAdapter
    from bot.app import RepBot
    from bot.config import Settings

    fake = await FakeSlack().start()
    settings = Settings(database_url=sqlite_url, slack_bot_token=BOT_TOKEN, slack_app_token=APP_TOKEN, slack_api_url=fake.api_url)
    adapter = SlackAdapter.from_settings(settings)
    adapter.recheck_after = 0.5  # production waits 20 s of disconnection before asking
    bot = RepBot(settings, adapter.chat, clock=clock, bank=test_bank)
    await bot.prepare()
    await adapter.start(bot)
    try:
        fake.app_token = "xapp-1-A1-regenerated"  # ours is revoked...
        await fake.drop_socket()  # ...and the next connect is refused
        await asyncio.wait_for(bot.supervisor.failed.wait(), 30)
        assert "SLACK_APP_TOKEN" in str(bot.supervisor.fatal) and "invalid_auth" in str(bot.supervisor.fatal)
        # slack-sdk's own reconnect attempts failed meanwhile; its per-attempt lines are not logged.
        assert not [r for r in caplog.records if "Failed to retrieve WSS URL" in r.getMessage()]
        assert [r for r in caplog.records if "Slack Socket Mode connection lost" in r.getMessage()]
        assert not (await bot.health.report()).checks["slack"].ok
    finally:
        await adapter.stop()
        await bot.stop()
        await fake.stop()


async def test_a_crashed_discord_client_is_logged_once_and_restarted(sqlite_url, test_bank, clock, caplog) -> None:  # type: ignore[no-untyped-def]
    async with discord_env(sqlite_url, test_bank, clock) as env:
        sessions = len(env.fake.sessions)
        await env.fake.dispatch("MESSAGE_DELETE", {"channel_id": env.fake.channel_id})  # no "id": discord.py raises

        async def down() -> bool:
            return not (await env.bot.health.report()).checks["discord"].ok

        await eventually(down)  # while it waits to restart, health says the connection is down
        await env.fake.wait_for(lambda: len(env.fake.sessions) > sessions, seconds=20)  # a fresh client identified

        async def connected() -> bool:
            return (await env.bot.health.report()).checks["discord"].ok

        try:
            await eventually(connected)
        except TimeoutError:
            raise AssertionError(str((await env.bot.health.report()).checks["discord"])) from None
        crashes = [r for r in caplog.records if "background task discord-client stopped unexpectedly" in r.getMessage()]
        assert len(crashes) == 1 and "KeyError" in crashes[0].getMessage()
        assert env.bot.metrics.registry.get_sample_value("repbot_task_restarts_total", {"task": "discord-client"}) == 1
        posted = await env.post_today()
        await env.fake.say(env.alice, posted.ref.thread_id, GOOD)

        async def stored() -> bool:
            return len(await env.answers()) == 1

        await eventually(stored)
        assert env.bot.supervisor.fatal is None


async def test_a_database_that_does_not_answer_at_start_is_one_line(tmp_path: Path) -> None:
    env = {
        **slack_settings(f"http://127.0.0.1:{free_port()}/api/"),
        "REPBOT_DATABASE_URL": f"postgresql+asyncpg://repbot:s3cret-db-pass@127.0.0.1:{free_port()}/repbot",
    }
    async with repbot_run(tmp_path, env) as bot:
        assert await bot.exit_code() == 1
    named = [line for line in bot.lines if "REPBOT_DATABASE_URL" in line]
    assert len(named) == 1, bot.stderr
    assert "Traceback" not in bot.stderr and "s3cret-db-pass" not in bot.stderr


async def test_slack_bot_token_revoked_while_running_stops_with_one_line(sqlite_url, test_bank, clock) -> None:  # type: ignore[no-untyped-def]
    from tests.fake_slack import SlackRig, event_callback

    fake = await FakeSlack().start()
    rig = await SlackRig.start(fake, sqlite_url, test_bank, clock)
    try:
        user_only = event_callback({"type": "tokens_revoked", "tokens": {"oauth": ["U9"], "bot": []}})
        assert (await rig.poster.event(rig.session, user_only))[0] == 200
        assert rig.bot.supervisor.fatal is None  # a person's token, not the bot's
        revoked = event_callback({"type": "tokens_revoked", "tokens": {"bot": ["UBOT"]}})
        assert (await rig.poster.event(rig.session, revoked))[0] == 200
        await asyncio.wait_for(rig.bot.supervisor.failed.wait(), 5)
        assert "tokens_revoked" in str(rig.bot.supervisor.fatal) and "SLACK_BOT_TOKEN" in str(rig.bot.supervisor.fatal)
    finally:
        await rig.close()
        await fake.stop()


async def test_a_sharded_gateway_closed_with_4004_stops_with_the_fix(sqlite_url, test_bank, clock, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import discord

    async def no_identify_pause(self: Any, shard_id: int | None, *, initial: bool = False) -> None:
        pass  # discord.py waits 5 s between shard IDENTIFYs (Discord's limit); the fake has none

    monkeypatch.setattr(discord.AutoShardedClient, "before_identify_hook", no_identify_pause)
    async with discord_env(sqlite_url, test_bank, clock, shard_count=2, discord_shards=2) as env:
        await env.fake.close_gateway(4004, shard=1)
        await asyncio.wait_for(env.bot.supervisor.failed.wait(), 15)
        assert "4004" in str(env.bot.supervisor.fatal) and "DISCORD_TOKEN" in str(env.bot.supervisor.fatal)


async def test_unreachable_socket_mode_endpoint_is_503_and_one_line_until_it_connects(
    sqlite_url, test_bank, clock, caplog
) -> None:  # type: ignore[no-untyped-def]
    # At the default level: another test in the same worker may have left the root logger at DEBUG,
    # where slack-sdk's per-attempt lines are shown on purpose.
    caplog.set_level(logging.INFO)
    from adapters.slack.adapter import SlackAdapter
    from bot.app import RepBot
    from bot.config import Settings

    fake = await FakeSlack().start()
    fake.socket_url = f"ws://127.0.0.1:{free_port()}/link"  # apps.connections.open works; its URL does not
    settings = Settings(database_url=sqlite_url, slack_bot_token=BOT_TOKEN, slack_app_token=APP_TOKEN, slack_api_url=fake.api_url)
    adapter = SlackAdapter.from_settings(settings)
    adapter.connect_timeout = 0.5  # production gives the websocket 15 s
    bot = RepBot(settings, adapter.chat, clock=clock, bank=test_bank)
    await bot.prepare()
    starting = asyncio.create_task(adapter.start(bot))
    try:

        async def retried() -> bool:
            return len(fake.of("apps.connections.open")) >= 3  # a few attempts, each with a fresh URL

        await eventually(retried, seconds=20)
        check = (await bot.health.report()).checks["slack"]
        assert not check.ok and "Socket Mode connect" in check.detail
        assert not starting.done()
        fake.socket_url = None  # the endpoint answers again
        await asyncio.wait_for(starting, 20)
        assert (await bot.health.report()).checks["slack"].ok
        failed = [r for r in caplog.records if "Slack Socket Mode connect failed" in r.getMessage()]
        assert len(failed) == 1 and not [r for r in caplog.records if r.exc_info and "socket_mode" in r.name]
    finally:
        if not starting.done():
            starting.cancel()
        await adapter.stop()
        await bot.stop()
        await fake.stop()
