"""A RepBot on the Discord adapter, connected to the fake Discord: set-up shared by the Discord tests."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from adapters.discord.adapter import DiscordAdapter
from bot.app import RepBot
from bot.clock import FrozenClock
from bot.config import Settings
from bot.daily import Posted, schedule_of
from bot.events import Place
from content.loader import QuestionBank
from storage.models import Answer, AnswerMessage, Channel
from tests.fake_discord import FakeDiscord
from tests.harness import TEAM_SETTINGS

# Shaped like a real bot token: base64(user id).timestamp.hmac — the adapter must never log it.
TOKEN_SECRET = "s3cr3t-hmac-part"


def token_for(app_id: str) -> str:
    return base64.b64encode(app_id.encode()).decode().rstrip("=") + ".GxYzAb." + TOKEN_SECRET


@dataclass
class DiscordEnv:
    fake: FakeDiscord
    adapter: DiscordAdapter
    bot: RepBot
    clock: FrozenClock
    alice: dict[str, Any]
    bob: dict[str, Any]
    place: Place

    async def post_today(self, question_id: str = "test-canary") -> Posted:
        channel = await self.bot.daily.ensure_channel(self.place, "general")
        day = schedule_of(channel).local_day(self.clock.now())
        posted = await self.bot.daily.post_daily(channel.id, day, question_id)
        assert posted is not None
        return posted

    async def answers(self) -> list[Answer]:
        async with self.bot.sessions() as session:
            return list((await session.execute(select(Answer).order_by(Answer.id))).scalars())

    async def answer_messages(self) -> list[AnswerMessage]:
        async with self.bot.sessions() as session:
            return list((await session.execute(select(AnswerMessage).order_by(AnswerMessage.id))).scalars())

    async def channel(self) -> Channel:
        return await self.bot.daily.ensure_channel(self.place, "general")

    def bot_messages(self) -> list[Any]:
        """Every message the bot sent or edited: channel messages and interaction follow-ups."""
        return [
            r
            for r in self.fake.requests
            if r.status == 200
            and r.method in ("POST", "PATCH")
            and (r.path.endswith("/messages") or r.path.startswith("/webhooks/"))
        ]


@asynccontextmanager
async def discord_env(
    db_url: str,
    bank: QuestionBank,
    clock: FrozenClock,
    *,
    shard_count: int = 1,
    fake: FakeDiscord | None = None,
    **overrides: Any,
) -> AsyncIterator[DiscordEnv]:
    fake = fake or FakeDiscord(shard_count=shard_count)
    await fake.start()
    alice, bob = fake.add_user("alice"), fake.add_user("bob")
    values: dict[str, Any] = {
        "database_url": db_url,
        **TEAM_SETTINGS,
        "discord_token": token_for(fake.app_id),
        "discord_api_base": fake.api_base,
        "discord_gateway_url": fake.gateway_url,
        "discord_message_content": True,
    }
    values.update(overrides)
    settings = Settings(**values)
    adapter = DiscordAdapter.from_settings(settings, guild_ready_timeout=0.05, ready_timeout=10)
    bot = RepBot(settings, adapter.chat, clock=clock, bank=bank)
    await bot.prepare()
    try:
        await adapter.start(bot)
        yield DiscordEnv(fake, adapter, bot, clock, alice, bob, Place("discord", fake.guild_id, fake.channel_id))
    finally:
        await adapter.stop()
        await bot.stop()
        await fake.stop()
