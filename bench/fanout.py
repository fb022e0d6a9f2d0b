"""The daily fan-out: 1,000 channels due at the same minute, posted through the real Slack
adapter (slack-sdk over HTTP) to a fake Web API that enforces 50 requests/s with 429 +
Retry-After and also injects random 429s. Bound: 1,000 requests at 50/s = 20 s.
Target: elapsed / 20 s <= 1.1, and every channel posted exactly once.

    python -m bench.fanout
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import random
import tempfile
import time
from pathlib import Path

from aiohttp import web
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from adapters.router import ChatRouter
from adapters.slack.chat import SlackChat
from adapters.slack.tokens import SingleToken
from bench.common import Row, check, print_rows
from bot.app import RepBot
from bot.clock import FrozenClock
from bot.config import Settings
from bot.events import Place
from content.loader import QuestionBank, load_file
from storage.db import upgrade

CHANNELS = 1000
LIMIT = 50  # requests per second the fake API accepts
INJECTED_429 = 0.02  # and a share of requests refused anyway
BANK = Path(__file__).resolve().parents[1] / "tests" / "data" / "bank" / "test-bank.yaml"


class RateLimitedSlack:
    def __init__(self, seed: int = 7) -> None:
        self.accepted: collections.Counter[str] = collections.Counter()
        self.refused = 0
        self.injected = 0
        self._window: collections.deque[float] = collections.deque()
        self._rng = random.Random(seed)

    async def post_message(self, request: web.Request) -> web.Response:
        form = dict(await request.post()) if request.content_type != "application/json" else await request.json()
        now = time.monotonic()
        while self._window and now - self._window[0] >= 1.0:
            self._window.popleft()
        if len(self._window) >= LIMIT:
            self.refused += 1
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"})
        if self._rng.random() < INJECTED_429:
            self.injected += 1
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"})
        self._window.append(now)
        channel = str(form.get("channel"))
        self.accepted[channel] += 1
        return web.json_response({"ok": True, "channel": channel, "ts": f"{now:.6f}"})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/chat.postMessage", self.post_message)
        return app


async def _run() -> list[Row]:
    fake = RateLimitedSlack()
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    client = AsyncWebClient(
        token="xoxb-bench",
        base_url=f"http://127.0.0.1:{port}/api/",
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=5)],
    )
    # As in production (adapters/slack/client.py): posts go through a client that leaves 429s to
    # SlackChat, which retries them inside its pacing.
    posts = AsyncWebClient(token="xoxb-bench", base_url=f"http://127.0.0.1:{port}/api/")
    chat = SlackChat(client, SingleToken("xoxb-bench"), workspace_requests_per_second=LIMIT * 0.99, posts=posts)
    questions, _ = load_file(BANK)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'fanout.db'}"
        await upgrade(url)
        clock = FrozenClock(dt.datetime(2026, 3, 2, 9, 0, 30, tzinfo=dt.UTC))  # Monday, 30 s after post time
        settings = Settings(database_url=url, timezone="UTC", post_time="09:00")
        bot = RepBot(settings, ChatRouter({"slack": chat}), clock=clock, bank=QuestionBank({q.id: q for q in questions}))
        await bot.prepare()
        for c in range(CHANNELS):
            await bot.daily.ensure_channel(Place("slack", "T1", f"C{c:04d}"), f"team-{c}")
        started = time.perf_counter()
        posted = await bot.scheduler.catch_up()
        elapsed = time.perf_counter() - started
        again = await bot.scheduler.catch_up()  # a second replica / sweep: nothing more
        await bot.stop()
    await runner.cleanup()
    bound = CHANNELS / LIMIT
    ratio = elapsed / bound
    exactly_once = posted == CHANNELS and again == 0 and len(fake.accepted) == CHANNELS and set(fake.accepted.values()) == {1}
    return [
        Row(
            "daily fan-out 1,000 channels / 20 s bound",
            ratio,
            "ratio",
            "<= 1.1",
            check(ratio, "<= 1.1") and exactly_once,
            f"{elapsed:.1f} s; {len(fake.accepted)} channels posted once each: {exactly_once}; "
            f"429s: {fake.refused} over the limit + {fake.injected} injected, all retried",
        ),
    ]


def run() -> list[Row]:
    return asyncio.run(_run())


if __name__ == "__main__":
    print_rows(run())
