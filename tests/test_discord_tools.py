"""`repbot discord invite-url` and the Discord part of `repbot doctor`, against the fake Discord."""

from __future__ import annotations

import asyncio
import threading
import urllib.parse
from collections.abc import Iterator

import discord
import pytest
from typer.testing import CliRunner

from adapters.discord.tools import REQUIRED_PERMISSIONS, application_id_from_token, discord_doctor, invite_url
from bot.cli import app
from bot.config import Settings
from tests.discord_env import TOKEN_SECRET, token_for
from tests.fake_discord import FakeDiscord

MESSAGE_CONTENT_FLAG = 1 << 18  # application flag: GATEWAY_MESSAGE_CONTENT


def settings_for(fake: FakeDiscord, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "discord_token": token_for(fake.app_id),
        "discord_api_base": fake.api_base,
        "discord_gateway_url": fake.gateway_url,
    }
    values.update(overrides)
    return Settings(**values)


def test_invite_url_has_exactly_the_needed_scopes_and_permissions():
    url = invite_url(Settings(discord_token=token_for("1300000000000000000")))
    query = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
    assert query["client_id"] == ["1300000000000000000"]
    assert query["scope"] == ["bot applications.commands"]
    granted = discord.Permissions(int(query["permissions"][0]))
    assert granted == REQUIRED_PERMISSIONS
    assert {name for name, on in granted if on} == {
        "read_messages",  # discord.py's canonical name for View Channels
        "send_messages",
        "send_messages_in_threads",
        "create_public_threads",
        "embed_links",
        "attach_files",
        "add_reactions",
        "read_message_history",
    }
    assert not granted.administrator and not granted.manage_messages and not granted.mention_everyone


def test_application_id_from_token():
    assert application_id_from_token(token_for("42")) == 42
    assert application_id_from_token("not a token") is None
    with pytest.raises(ValueError, match="--client-id"):
        invite_url(Settings())


async def test_doctor_reports_intents_and_missing_permissions():
    fake = await FakeDiscord(app_flags=0).start()
    fake.token = token_for(fake.app_id)
    try:
        lines = await discord_doctor(settings_for(fake, discord_message_content=True))
    finally:
        await fake.stop()
    text = "\n".join(lines)
    assert all(line.startswith(("discord: ok", "discord: warn", "discord: FAIL")) for line in lines)
    assert "discord: ok token valid for repbot" in text
    assert "FAIL MESSAGE_CONTENT intent requested" in text and "4014" in text
    # The fake server's @everyone role lacks threads, embeds and files: the doctor names them.
    (guild_line,) = [line for line in lines if "Release Crew" in line]
    assert guild_line.startswith("discord: FAIL")
    for name in ("send_messages_in_threads", "create_public_threads", "embed_links", "attach_files"):
        assert name in guild_line
    assert "read_messages" not in guild_line and "add_reactions" not in guild_line
    assert TOKEN_SECRET not in text


async def test_doctor_with_the_intent_enabled_and_a_rejected_token():
    fake = await FakeDiscord(app_flags=MESSAGE_CONTENT_FLAG).start()
    try:
        fake.token = token_for(fake.app_id)
        ok = await discord_doctor(settings_for(fake, discord_message_content=True))
        fake.token = "another-token"
        rejected = await discord_doctor(settings_for(fake))
    finally:
        await fake.stop()
    assert "discord: ok MESSAGE_CONTENT intent on and enabled in the portal: thread replies are answers" in ok
    assert rejected == [
        "discord: FAIL the bot token was rejected (401); reset it under Bot > Reset Token and update DISCORD_TOKEN"
    ]


@pytest.fixture
def fake_in_thread() -> Iterator[FakeDiscord]:
    """The fake on its own event loop, for CLI commands that run `asyncio.run` themselves."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    fake = asyncio.run_coroutine_threadsafe(FakeDiscord().start(), loop).result(10)
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_cli_doctor_and_invite_url(fake_in_thread: FakeDiscord, monkeypatch: pytest.MonkeyPatch):
    fake = fake_in_thread
    for name in ("SLACK_BOT_TOKEN", "REPBOT_SLACK_BOT_TOKEN", "SLACK_CLIENT_ID", "REPBOT_SLACK_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DISCORD_TOKEN", token_for(fake.app_id))
    monkeypatch.setenv("REPBOT_DISCORD_API_BASE", fake.api_base)
    runner = CliRunner()
    url = runner.invoke(app, ["discord", "invite-url"])
    assert url.exit_code == 0 and f"client_id={fake.app_id}" in url.output
    doctor = runner.invoke(app, ["doctor"])
    assert "discord: ok token valid for repbot" in doctor.output
    assert doctor.exit_code == 1  # the fake server lacks thread permissions: a FAIL line
    assert TOKEN_SECRET not in doctor.output
