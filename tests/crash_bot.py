"""The bot under SIGKILL: `python -m tests.crash_bot DB_URL ACCEPTED_LOG N [handle|inbox]`.

At start it runs the scheduler's catch-up (the day's post, once, even after downtime), then
delivers answers 0..N-1 to that post (again from 0 after every restart: the platform
re-delivers what it never saw acknowledged) while a grading worker runs in the background.
Each answer whose intake returned is appended to ACCEPTED_LOG — that is the bot's promise.
With `inbox`, answers arrive the way the Slack adapter delivers them: held with one INSERT
(`receive_answer`, what happens before Slack's 200) and filed by the inbox task.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from bot.app import RepBot
from bot.config import Settings
from bot.events import AnswerPosted, MessageRef, Person, Place
from content.loader import QuestionBank, load_file
from tests.procs import FileChat

BANK = Path(__file__).parent / "data" / "bank" / "test-bank.yaml"
PLACE = Place("sim", "W", "C1")
TEXT = "I would send a small percentage of traffic to the canary, compare it with a baseline side by side and roll back automatically."


def accept(log: Path, source: str) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (source + "\n").encode())
    finally:
        os.close(fd)


async def main(db_url: str, log: Path, n: int, path: str) -> None:
    questions, _ = load_file(BANK)
    # Post time = midnight UTC, so "now" is always inside the catch-up window.
    settings = Settings(
        database_url=db_url,
        timezone="UTC",
        post_time="00:00",
        weekdays="mon-sun",
        quiet_period_seconds=0,
        answer_window_hours=24,
        catch_up_grace_minutes=24 * 60,
        grading_lease_seconds=5,
        grading_poll_seconds=0.05,
    )
    bot = RepBot(settings, FileChat(log.with_suffix(".said"), f"p{os.getpid()}"), bank=QuestionBank({q.id: q for q in questions}))
    await bot.prepare()
    await bot.daily.ensure_channel(PLACE, "crash")
    await bot.scheduler.catch_up()
    await bot.start(schedule=False)
    channel = await bot.daily.ensure_channel(PLACE)
    post = await bot.daily.open_post(channel.id)
    assert post is not None
    for i in range(n):
        source = f"crash-{i}"
        person = Person("sim", "W", f"U{i % 97}", f"user {i % 97}")
        # One answer per person and post: people beyond 97 add messages to their merged answer.
        event = AnswerPosted(person, f"{TEXT} part {i}", source, MessageRef(PLACE, source, post.thread_ref))
        if path == "inbox":
            await bot.receive_answer(event)
        else:
            await bot.handle(event)
        accept(log, source)
    async with asyncio.timeout(120):  # leases of killed runs expire, then those answers are graded too
        while await bot.inbox.depth() or await bot.queue.depth():
            await bot.worker.run_until_idle(limit_seconds=60)
            await asyncio.sleep(0.2)
    print("done", flush=True)
    await asyncio.sleep(3600)  # keep running until killed, like a bot does


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else "handle"))
