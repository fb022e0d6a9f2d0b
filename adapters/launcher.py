"""Runs RepBot on the chat platforms whose tokens are configured."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal

from adapters.base import PlatformAdapter
from adapters.router import ChatRouter
from bot.app import RepBot
from bot.config import Settings
from content.loader import QuestionBank

log = logging.getLogger(__name__)


def build_adapters(settings: Settings) -> list[PlatformAdapter]:
    adapters: list[PlatformAdapter] = []
    if settings.slack_enabled:
        from adapters.slack.adapter import SlackAdapter

        adapters.append(SlackAdapter.from_settings(settings))
    if settings.discord_enabled:
        from adapters.discord.adapter import DiscordAdapter

        adapters.append(DiscordAdapter.from_settings(settings))
    return adapters


def freeze_startup_heap() -> None:
    """Move everything built at start-up (modules, the bank, the apps) out of the garbage
    collector's sight. Otherwise each full collection walks all of it: measured at about 150 ms
    with the whole bot loaded, a pause every acknowledgement waiting at that moment would share.
    """
    gc.collect()
    gc.freeze()


async def run_platforms(settings: Settings, bank: QuestionBank, stop: asyncio.Event | None = None) -> int:
    adapters = build_adapters(settings)
    bot = RepBot(settings, ChatRouter({a.platform: a.chat for a in adapters}), bank=bank)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await bot.start()
    try:
        for adapter in adapters:
            await adapter.start(bot)
            log.info("%s adapter started", adapter.platform)
        freeze_startup_heap()
        await stop.wait()
    finally:
        for adapter in adapters:
            with contextlib.suppress(Exception):
                await adapter.stop()
        await bot.stop()
    return 0
