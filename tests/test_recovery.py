"""Crash and race safety of the core: a killed process loses no answer and grades it once on the
next start; two schedulers firing together post once."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.app import RepBot
from bot.clock import FrozenClock
from bot.config import Settings
from bot.daily import schedule_of
from bot.schedule import SWEEP_SECONDS
from bot.scoring import points_for
from content.loader import QuestionBank
from storage.models import Answer, GradeRow, MemberTotal, Post, ScoreEvent
from tests.fake_chat import FakeChat
from tests.harness import Team

ROOT = Path(__file__).resolve().parents[1]


def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"bot process exited early: {proc.stderr.read().decode() if proc.stderr else ''}")
        if time.monotonic() > deadline:
            raise AssertionError("bot never started grading")
        time.sleep(0.05)


async def test_killed_while_grading_is_graded_once_after_restart(db_url: str, tmp_path: Path, test_bank: QuestionBank) -> None:
    marker = tmp_path / "grading-started"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.blocking_bot", db_url, str(marker)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        await asyncio.to_thread(_wait_for, marker, proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL

    # The answer was stored before grading started, and is mid-lease now.
    clock = FrozenClock(dt.datetime.now(dt.UTC))
    chat = FakeChat()
    bot = RepBot(Settings(database_url=db_url, quiet_period_seconds=0), chat, clock=clock, bank=test_bank)
    try:
        async with bot.sessions() as session:
            answer = (await session.execute(select(Answer))).scalar_one()
        assert answer.status == "grading"

        await bot.worker.run_until_idle()
        async with bot.sessions() as session:
            assert (await session.execute(select(func.count()).select_from(GradeRow))).scalar_one() == 0  # lease still held

        clock.advance(seconds=31)  # the dead process's lease expires
        await bot.worker.run_until_idle()
        await bot.worker.run_until_idle()
        async with bot.sessions() as session:
            grades = (await session.execute(select(GradeRow))).scalars().all()
            answer = (await session.execute(select(Answer))).scalar_one()
            events = (await session.execute(select(ScoreEvent))).scalars().all()
            total = (await session.execute(select(MemberTotal))).scalar_one()
        assert len(grades) == 1 and grades[0].grader == "offline"
        assert answer.status == "graded"
        expected = points_for(grades[0].score, late=False, streak=1)
        assert sum(e.points for e in events) == expected == total.points
        assert "feedback" in chat.private_to("alice")[-1].tags
    finally:
        await bot.stop()


async def test_two_schedulers_firing_together_post_once(db_url: str, test_bank: QuestionBank, clock: FrozenClock) -> None:
    chats = [FakeChat(), FakeChat()]
    teams = [await Team.create(db_url, test_bank, clock, chat) for chat in chats]
    try:
        clock.set(dt.datetime(2026, 3, 2, 8, 0, 5, tzinfo=dt.UTC))  # Monday 09:00:05 Berlin
        await asyncio.gather(*(t.bot.scheduler.fire(t.channel_id) for t in teams for _ in range(3)))
        assert sum(len(c.posts()) for c in chats) == 1
        async with teams[0].bot.sessions() as session:
            posts = (await session.execute(select(Post))).scalars().all()
        assert len(posts) == 1 and posts[0].status == "open" and posts[0].day == dt.date(2026, 3, 2)
    finally:
        for t in teams:
            await t.close()


async def test_catch_up_posts_missed_question_within_grace_only(team: Team) -> None:
    # 09:00 Berlin passed 90 minutes ago (grace is 180): post now.
    team.clock.set(dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC))
    assert await team.bot.scheduler.catch_up() == 1
    assert await team.bot.scheduler.catch_up() == 0  # already posted
    # Next day, restart well after the grace window: no stale post.
    team.clock.set(dt.datetime(2026, 3, 3, 14, 0, tzinfo=dt.UTC))
    assert await team.bot.scheduler.catch_up() == 0
    assert len(team.chat.posts()) == 1


async def test_claimed_post_of_a_dead_process_is_taken_over(team: Team) -> None:
    team.chat.fail_posts = 1
    try:
        await team.post_today()
        raise AssertionError("post should have failed")
    except ConnectionError:
        pass
    assert await team.post_today() is None  # claim still fresh: nobody doubles it
    team.clock.advance(minutes=3)
    posted = await team.post_today()
    assert posted is not None and len(team.chat.posts()) == 1


async def test_a_failed_post_is_posted_at_the_next_sweep(team: Team, caplog: pytest.LogCaptureFixture) -> None:
    team.chat.fail_posts = 1  # the platform refuses the day's question at its time (09:00 Berlin)
    with caplog.at_level(logging.ERROR, logger="bot.schedule"):
        await team.bot.scheduler.sweep()
    assert not team.chat.posts()
    assert len(caplog.records) == 1 and "the next sweep retries" in caplog.records[0].getMessage()
    team.clock.advance(seconds=SWEEP_SECONDS)  # the process knows the send failed: no two-minute wait
    await team.bot.scheduler.sweep()
    assert len(team.chat.posts()) == 1
    async with team.bot.sessions() as session:
        assert (await session.execute(select(Post.status))).scalars().all() == ["open"]


async def test_cron_job_fires_at_local_time_across_dst(team: Team) -> None:
    channel = await team.channel()
    team.bot.scheduler.sync_channel(channel)
    job = next(j for j in team.bot.scheduler._aps.get_jobs() if j.id == f"post:{team.channel_id}")
    tz = schedule_of(channel).tz
    # Berlin switches to summer time on 2026-03-29: 09:00 local is 08:00 UTC before, 07:00 UTC after.
    before = job.trigger.get_next_fire_time(None, dt.datetime(2026, 3, 27, 10, 0, tzinfo=tz))
    after = job.trigger.get_next_fire_time(None, dt.datetime(2026, 3, 29, 10, 0, tzinfo=tz))
    assert before.astimezone(dt.UTC) == dt.datetime(2026, 3, 30, 7, 0, tzinfo=dt.UTC)  # Sat/Sun skipped
    assert after.astimezone(dt.UTC) == dt.datetime(2026, 3, 30, 7, 0, tzinfo=dt.UTC)
    monday = job.trigger.get_next_fire_time(None, dt.datetime(2026, 3, 20, 10, 0, tzinfo=tz))
    assert monday.astimezone(dt.UTC) == dt.datetime(2026, 3, 23, 8, 0, tzinfo=dt.UTC)


async def test_a_replica_with_the_old_post_time_does_not_post_at_it(
    db_url: str, test_bank: QuestionBank, clock: FrozenClock
) -> None:
    """Replica A moves the post time; replica B's cron job still fires at the old time."""
    chats = [FakeChat(), FakeChat()]
    a, b = [await Team.create(db_url, test_bank, clock, chat) for chat in chats]
    try:
        await a.command("admin", "schedule", "set", "time", "10:00", admin=True)
        clock.set(dt.datetime(2026, 3, 2, 8, 0, 5, tzinfo=dt.UTC))  # Monday 09:00:05 Berlin: the old time
        await b.bot.scheduler.fire(b.channel_id)
        assert chats[1].posts() == []
        clock.set(dt.datetime(2026, 3, 2, 9, 0, 5, tzinfo=dt.UTC))  # 10:00:05: the new time
        await b.bot.scheduler.fire(b.channel_id)
        assert len(chats[1].posts()) == 1
    finally:
        for t in (a, b):
            await t.close()
