"""Runs RepBot on the chat platforms whose tokens are configured."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal

from sqlalchemy.exc import DBAPIError

from adapters.base import PlatformAdapter
from adapters.router import ChatRouter
from bot.app import RepBot
from bot.config import Settings
from bot.supervise import Fatal
from content.loader import QuestionBank

log = logging.getLogger(__name__)

STOP_SECONDS = 10.0  # per adapter; orchestrators send SIGKILL after about 10-30 s


def build_adapters(settings: Settings) -> list[PlatformAdapter]:
    adapters: list[PlatformAdapter] = []
    if settings.slack_enabled:
        from adapters.slack.adapter import SlackAdapter

        adapters.append(SlackAdapter.from_settings(settings))
    if settings.discord_enabled:
        from adapters.discord.adapter import DiscordAdapter

        adapters.append(DiscordAdapter.from_settings(settings))
    return adapters


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def freeze_startup_heap() -> None:
    """Move everything built at start-up (modules, the bank, the apps) out of the garbage
    collector's sight. Otherwise each full collection walks all of it: measured at about 150 ms
    with the whole bot loaded, a pause every acknowledgement waiting at that moment would share.
    """
    gc.collect()
    gc.freeze()


async def run_platforms(settings: Settings, bank: QuestionBank, stop: asyncio.Event | None = None) -> int:
    """Run until SIGINT/SIGTERM (or `stop`): 0. A failure no restart can fix: its one line, then 1.

    Start-up (schema, connecting to each platform) races the stop signal, so a SIGTERM ends the
    process within seconds in every state, connected or still retrying."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        adapters = build_adapters(settings)
    except ValueError as exc:  # a missing or contradicting setting: the message names it
        raise Fatal(str(exc), exit_code=2) from None
    bot = RepBot(settings, ChatRouter({a.platform: a.chat for a in adapters}), bank=bank)

    async def start_all() -> None:
        try:
            await bot.start()
        except (OSError, TimeoutError, DBAPIError) as exc:  # unreachable, refused, bad password
            # A restart may help (the database starting up): exit 1 with one line, not a traceback.
            raise Fatal(f"the database did not answer at start (check REPBOT_DATABASE_URL): {_first_line(exc)}") from exc
        for adapter in adapters:
            await adapter.start(bot)
            log.info("%s adapter started", adapter.platform)
        freeze_startup_heap()

    startup = asyncio.create_task(start_all(), name="start-up")
    stopped = asyncio.create_task(stop.wait())
    failed = asyncio.create_task(bot.supervisor.failed.wait())
    try:
        await asyncio.wait({startup, stopped, failed}, return_when=asyncio.FIRST_COMPLETED)
        if startup.done():
            startup.result()  # a start-up error propagates (Fatal: one line, see bot/cli.py)
            await asyncio.wait({stopped, failed}, return_when=asyncio.FIRST_COMPLETED)
        elif stop.is_set():
            log.info("stop requested during start-up")
    finally:
        for task in (startup, stopped, failed):
            task.cancel()
        await asyncio.gather(startup, stopped, failed, return_exceptions=True)
        for adapter in reversed(adapters):
            try:
                async with asyncio.timeout(STOP_SECONDS):
                    await adapter.stop()
            except Exception:  # noqa: BLE001 - the others must still stop
                log.warning("%s adapter did not stop cleanly", adapter.platform, exc_info=True)
        await bot.stop()
    return 1 if bot.supervisor.fatal is not None else 0
