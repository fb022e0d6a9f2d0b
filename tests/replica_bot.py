"""One replica in the scale-out test: `python -m tests.replica_bot DB_URL LOG NAME CHANNELS PEOPLE DAYS`.

Every replica walks the same simulated week on its own clock: at each day's post time it runs
the scheduler's catch-up (all replicas race for every channel's post), delivers every answer of
that day (the same source ids on every replica, as a platform retrying across replicas would),
grades what it can claim, and closes due posts. The test then counts what was said and stored.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.app import RepBot
from bot.clock import FrozenClock
from bot.config import Settings
from bot.events import AnswerPosted, MessageRef, Person, Place
from content.loader import QuestionBank, load_file
from storage.models import Post
from tests.procs import FileChat

BANK = Path(__file__).parent / "data" / "bank" / "test-bank.yaml"
START = dt.datetime(2026, 3, 2, 8, 0, 30, tzinfo=dt.UTC)  # Monday 09:00:30 in Berlin
TEXT = "I would send a small percentage of traffic to the canary, compare it with a baseline side by side and roll back automatically."


async def main(db_url: str, log: Path, name: str, channels: int, people: int, days: int) -> None:
    questions, _ = load_file(BANK)
    clock = FrozenClock(START)
    settings = Settings(
        database_url=db_url,
        timezone="Europe/Berlin",
        post_time="09:00",
        quiet_period_seconds=0,
        answer_window_hours=8,
        grading_lease_seconds=60,
    )
    bot = RepBot(settings, FileChat(log, name), clock=clock, bank=QuestionBank({q.id: q for q in questions}))
    await bot.prepare()
    places = [Place("sim", "W", f"C{c:03d}") for c in range(channels)]
    for place in places:
        await bot.daily.ensure_channel(place, place.channel)
    for day in range(days):
        clock.set(START + dt.timedelta(days=day))
        await bot.scheduler.catch_up()
        # Today's posts, whoever posted them; wait out ones another replica is still posting. A
        # faster replica may already have closed some: answers to those are kept as late answers.
        today = clock.now().astimezone(ZoneInfo("Europe/Berlin")).date()
        for _ in range(400):
            async with bot.sessions() as session:
                rows = (await session.execute(select(Post).where(Post.day == today))).scalars().all()
            if not any(p.status == "claimed" for p in rows):
                break
            await asyncio.sleep(0.05)
        posts = {p.channel_id: p for p in rows if p.thread_ref}
        for place in places:
            channel = await bot.daily.ensure_channel(place)
            post = posts.get(channel.id)
            if post is None:
                continue  # a weekend: nothing scheduled
            for p in range(people):
                source = f"{place.channel}:{post.day}:{p}"
                person = Person("sim", "W", f"U{p}", f"user {p}")
                await bot.handle(AnswerPosted(person, f"{TEXT} ({p})", source, MessageRef(place, source, post.thread_ref)))
        await bot.worker.run_until_idle(limit_seconds=300)
        clock.advance(hours=9)
        await bot.daily.close_due()
        await bot.worker.run_until_idle(limit_seconds=300)
    await bot.stop()


if __name__ == "__main__":
    url, log, name, channels, people, days = sys.argv[1:]
    asyncio.run(main(url, Path(log), name, int(channels), int(people), int(days)))
