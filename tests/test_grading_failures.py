"""No exception escapes the grading worker's jobs: a failure is logged (what was not done is
retried: an answer whose grade was not stored when its lease expires, feedback by its own loop)
instead of surfacing as "Task exception was never retrieved"."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from bot.grading.worker import GradingWorker, WorkerSettings
from storage.models import Answer
from tests.harness import Team

GOOD = "I would send a small share of traffic to the canary, compare it with a baseline and roll back on errors."


class BrokenListener:
    """A listener that fails the first time it is told about a grade (e.g. its database went away)."""

    def __init__(self) -> None:
        self.graded_ids: list[int] = []

    async def graded(self, answer_id: int) -> None:
        self.graded_ids.append(answer_id)
        if len(self.graded_ids) == 1:
            raise RuntimeError("listener broke")

    async def delayed(self, answer_id: int) -> None:
        raise AssertionError("not expected")


async def test_a_failing_job_is_logged_and_does_not_escape_the_worker(team: Team, caplog: pytest.LogCaptureFixture) -> None:
    await team.post_today()
    await team.answer("alice", GOOD)
    listener = BrokenListener()
    bot = team.bot
    worker = GradingWorker(bot.queue, bot.grader, bot.offline, bot.bank, bot.clock, listener, WorkerSettings(poll=0.05))
    with caplog.at_level(logging.ERROR, logger="bot.grading.worker"):
        assert await worker.run_once() == 1  # before: the RuntimeError came out of here
    worker_lines = [r.getMessage() for r in caplog.records if r.name == "bot.grading.worker"]
    assert worker_lines == [f"grading: grading answer {listener.graded_ids[0]} failed"]
    async with bot.sessions() as session:
        assert (await session.execute(select(Answer.status))).scalar_one() == "graded"  # the grade was stored
