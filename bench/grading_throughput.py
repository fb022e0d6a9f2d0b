"""Grading throughput against an LLM that takes 1 s per call, versus the concurrency bound.

With concurrency C and latency L, N answers cannot be graded faster than ceil(N / C) x L.
The ratio bound / measured is 1.0 at perfect use of the allowed parallelism (target >= 0.9).
It runs the real path: answers stored, claimed by the worker, graded by the LLM grader over
the openai client against a fake server on 127.0.0.1, grades and points stored.

    python -m bench.grading_throughput
"""

from __future__ import annotations

import asyncio
import math
import tempfile
import time
from pathlib import Path

from bench.common import Row, check, print_rows
from bot.app import RepBot
from bot.clock import SystemClock
from bot.config import Settings
from bot.events import AnswerPosted, MessageRef, Person, Place
from bot.grading.llm import LLMGrader
from content.loader import QuestionBank, load_file
from storage.db import upgrade
from tests.fake_chat import FakeChat
from tests.fake_llm import FakeLLM, slow, verdict

BANK = Path(__file__).resolve().parents[1] / "tests" / "data" / "bank" / "test-bank.yaml"
N, CONCURRENCY, LATENCY = 64, 8, 1.0
PLACE = Place("bench", "W", "C1")


async def _run() -> list[Row]:
    fake = await FakeLLM().start()
    fake.responder = lambda _: slow(
        verdict({"split": "full", "baseline": "partial", "metrics": "full", "rollback": "none"}), LATENCY
    )  # type: ignore[assignment]
    questions, _ = load_file(BANK)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        await upgrade(url)
        settings = Settings(database_url=url, quiet_period_seconds=0, llm_concurrency=CONCURRENCY, grading_poll_seconds=0.02)
        llm = LLMGrader(base_url=fake.base_url, api_key="bench", model="m", concurrency=CONCURRENCY, timeout_s=30)
        bot = RepBot(settings, FakeChat(), clock=SystemClock(), bank=QuestionBank({q.id: q for q in questions}), grader=llm)
        await bot.prepare()
        channel = await bot.daily.ensure_channel(PLACE, "bench")
        posted = await bot.daily.post_extra(channel.id, "test-canary")
        assert posted is not None
        for i in range(N):
            source = f"b{i}"
            text = f"Canary answer number {i}: a small percentage of traffic, a baseline side by side, automatic rollback."
            await bot.handle(
                AnswerPosted(Person("bench", "W", f"U{i}"), text, source, MessageRef(PLACE, source, posted.ref.thread_id))
            )
        started = time.perf_counter()
        await bot.start(schedule=False)
        while await bot.queue.depth():
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        await bot.stop()
    await fake.close()
    bound = math.ceil(N / CONCURRENCY) * LATENCY
    ratio = bound / elapsed
    return [
        Row(
            "grading throughput vs concurrency bound",
            ratio,
            "ratio",
            ">= 0.9",
            check(ratio, ">= 0.9"),
            f"{N} answers, LLM {LATENCY:g} s/call, concurrency {CONCURRENCY}: {elapsed:.2f} s vs bound {bound:.0f} s; "
            f"max in flight {fake.max_in_flight}",
        )
    ]


def run() -> list[Row]:
    return asyncio.run(_run())


if __name__ == "__main__":
    print_rows(run())
