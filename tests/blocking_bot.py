"""A bot process for crash tests: stores one answer, starts grading with a grader that never
returns, writes a marker file when grading has begun, then waits to be killed.

    python -m tests.blocking_bot DB_URL MARKER_FILE
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bot.app import RepBot
from bot.config import Settings
from bot.events import AnswerPosted, MessageRef, Person
from bot.grading.model import Grade
from content.loader import QuestionBank, load_file
from content.schema import Question
from tests.fake_chat import FakeChat
from tests.harness import PLACE

BANK = Path(__file__).parent / "data" / "bank" / "test-bank.yaml"


class BlockingGrader:
    name = "blocking"

    def __init__(self, marker: Path):
        self._marker = marker

    async def grade(self, question: Question, answer_text: str) -> Grade:
        self._marker.write_text("grading")
        await asyncio.Event().wait()  # never returns: the process is killed here
        raise AssertionError("unreachable")


async def main(db_url: str, marker: Path) -> None:
    questions, _ = load_file(BANK)
    bank = QuestionBank({q.id: q for q in questions})
    settings = Settings(database_url=db_url, quiet_period_seconds=0, grading_poll_seconds=0.05, grading_lease_seconds=30)
    bot = RepBot(settings, FakeChat(), bank=bank, grader=BlockingGrader(marker))
    await bot.start(schedule=False)
    channel = await bot.daily.ensure_channel(PLACE, "team")
    posted = await bot.daily.post_extra(channel.id, "test-canary")
    assert posted is not None
    person = Person(PLACE.platform, PLACE.workspace, "alice", "Alice")
    text = (
        "I would send a small percentage of traffic to the canary through the service mesh, compare it side by "
        "side with a baseline, watch the error rate and p99 latency, and roll back automatically when it is worse."
    )
    await bot.handle(AnswerPosted(person, text, "crash-msg-1", MessageRef(PLACE, "crash-msg-1", posted.ref.thread_id)))
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
