"""Slack ack latency in multi-workspace (OAuth) mode, next to single-token mode, on the same rig.

In OAuth mode each request is authorized from RepBot's installation store. bolt's default
authorize also calls Slack's auth.test before every ack; RepBot caches that result per bot
token (adapters/slack/adapter.py), so a workspace costs one auth.test, then only the store read.
Both runs use bench.slack_ack's rig: a separate load process hosting the fake Web API (which
counts calls per method) fires signed thread replies at a fixed rate.

    python -m bench.slack_oauth
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Row, check, print_rows
from bench.slack_ack import (
    CHANNELS,
    FILING_TIMEOUT,
    RATE,
    SECONDS,
    SECRET,
    TEAM,
    TEST_BANK,
    TOKEN,
    _repbot,
    _Rig,
    ack_figures,
    open_questions,
)

CLIENT_ID = "bench.client"
AUTH_TARGET = "<= 1"  # auth.test calls for the one workspace, whatever the number of requests


async def _repbot_oauth(workdir: Path, rate: int, seconds: int) -> dict[str, Any]:
    from slack_sdk.oauth.installation_store import Installation

    from adapters.launcher import freeze_startup_heap
    from adapters.slack.adapter import SlackAdapter
    from bot.app import RepBot
    from bot.config import Settings
    from content.loader import QuestionBank, load_file

    rig = _Rig(workdir, "repbot-oauth")
    settings = Settings(
        database_url=rig.db_url,
        slack_client_id=CLIENT_ID,
        slack_client_secret="bench-client-secret",
        slack_signing_secret=SECRET,
        slack_api_url=rig.api_url,
        slack_mode="http",
        slack_port=0,
    )
    questions, _ = load_file(TEST_BANK)
    adapter = SlackAdapter.from_settings(settings, host="127.0.0.1")
    bot = RepBot(settings, adapter.chat, bank=QuestionBank({q.id: q for q in questions}))
    await bot.start(schedule=False)
    await adapter.start(bot)
    assert adapter.installations is not None
    # The workspace as the OAuth install would have saved it.
    await adapter.installations.async_save(
        Installation(
            app_id="A1",
            enterprise_id=None,
            team_id=TEAM,
            bot_token=TOKEN,
            bot_id="B1",
            bot_user_id="UBOT",
            bot_scopes="chat:write,reactions:write,users:read",
            user_id="UADMIN",
            installed_at=time.time(),
        )
    )
    try:
        opened, warm = await open_questions(bot, CHANNELS)
        freeze_startup_heap()
        result = await rig.measure(f"http://127.0.0.1:{adapter.port}/slack/events", opened, warm, rate, seconds)
        done = time.perf_counter()
        while await bot.inbox.depth() and time.perf_counter() - done < FILING_TIMEOUT:
            await asyncio.sleep(0.05)
        return result
    finally:
        await adapter.stop()
        await bot.stop()
        rig.close()


def run(rate: int = RATE, seconds: int = SECONDS) -> list[Row]:
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("slack_bolt").setLevel(logging.CRITICAL)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="repbot-bench-") as tmp:
        single = asyncio.run(_repbot(Path(tmp), rate, seconds))
        oauth = asyncio.run(_repbot_oauth(Path(tmp), rate, seconds))
    rows: list[Row] = []
    figures: dict[str, dict[str, float]] = {}
    for name, result in (("OAuth mode", oauth), ("single token", single)):
        figures[name], detail = ack_figures(result)
        if name == "OAuth mode":
            rows.append(Row(f"slack ack p50 RepBot {name}", round(figures[name]["p50"], 2), "ms", detail=detail))
            rows.append(Row(f"slack ack p99 RepBot {name}", round(figures[name]["p99"], 2), "ms", detail=detail))
    requests = sum(oauth["statuses"].values())
    auth_calls = oauth["api_calls"].get("auth.test", 0)
    rows.append(
        Row(
            "slack auth.test calls, OAuth mode, 1 workspace",
            auth_calls,
            "calls",
            AUTH_TARGET,
            check(auth_calls, AUTH_TARGET),
            f"during {requests} events (+ warm-up); single-token mode: {single['api_calls'].get('auth.test', 0)}",
        )
    )
    for p in ("p50", "p99"):
        ratio = figures["OAuth mode"][p] / figures["single token"][p]
        rows.append(
            Row(
                f"slack ack {p} OAuth / single token",
                round(ratio, 2),
                "ratio",
                detail=f"{figures['OAuth mode'][p]:.2f} ms / {figures['single token'][p]:.2f} ms at {rate}/s for "
                f"{seconds} s; load average {load:.1f} on {os.cpu_count()} CPUs at start",
            )
        )
    return rows


def main() -> None:
    print_rows(run())


if __name__ == "__main__":
    main()
