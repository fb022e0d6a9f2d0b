"""SIGKILL at random points while 1,000 answers arrive: afterwards every accepted answer is
stored and graded once, points match grades, and the day's post happened exactly once."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.scoring import points_for
from storage.db import ensure_inbox_file, inbox_url, make_engine, make_sessionmaker, upgrade
from storage.models import Answer, AnswerMessage, GradeRow, InboxMessage, MemberTotal, Post, ScoreEvent
from tests.procs import read_lines

ROOT = Path(__file__).resolve().parents[1]
N = 1000


async def _run_until(db_url: str, log: Path, kill_after: float | None, path: str) -> bool:
    """Start the bot; SIGKILL it after `kill_after` seconds; True when it finished everything first."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.crash_bot",
        db_url,
        str(log),
        str(N),
        path,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=kill_after if kill_after is not None else 300)
        return line.strip() == b"done"
    except TimeoutError:
        return False
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
        await proc.wait()
        if proc.returncode not in (-signal.SIGKILL, 0):
            err = await proc.stderr.read() if proc.stderr else b""
            raise AssertionError(f"bot crashed on its own: {err.decode()[-2000:]}")


async def _held(db_url: str) -> int:
    """Answers acknowledged but not filed, as a killed process left them."""
    engine = make_engine(inbox_url(db_url))
    try:
        await ensure_inbox_file(engine)  # the kill may have come before the bot created it
        async with make_sessionmaker(engine)() as session:
            return int((await session.execute(select(func.count()).select_from(InboxMessage))).scalar_one())
    finally:
        await engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("path", ["handle", "inbox"])
async def test_sigkill_at_random_points_loses_and_doubles_nothing(db_url: str, tmp_path: Path, path: str) -> None:
    """`handle`: answers filed as they arrive (Discord, console). `inbox`: held before the ack and
    filed in the background (Slack), so kills also land between holding and filing."""
    await upgrade(db_url)
    log = tmp_path / "accepted.log"
    rng = random.Random(20261129)
    kills = 0
    held_at_a_kill = 0
    for _ in range(4):  # four kills at random moments, each mid-intake or mid-grading
        if await _run_until(db_url, log, kill_after=rng.uniform(1.5, 4.0), path=path):
            break
        kills += 1
        if path == "inbox":
            held_at_a_kill = max(held_at_a_kill, await _held(db_url))
    assert kills >= 1, "the bot finished before any kill; the test proved nothing"
    if path == "inbox":
        assert held_at_a_kill > 0, "no kill landed while answers were held; the inbox path was not tested"
    assert await _run_until(db_url, log, kill_after=None, path=path)  # the last start finishes the work

    accepted = set(log.read_text().split())
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    try:
        async with sessions() as session:
            stored = set((await session.execute(select(AnswerMessage.source_id))).scalars())
            answers = (await session.execute(select(Answer))).scalars().all()
            grades = (await session.execute(select(GradeRow).where(GradeRow.current.is_(True)))).scalars().all()
            per_revision = Counter((await session.execute(select(GradeRow.answer_id, GradeRow.revision))).all())
            points = (await session.execute(select(func.sum(ScoreEvent.points)))).scalar_one()
            totals = (await session.execute(select(func.sum(MemberTotal.points)))).scalar_one()
            posts = (await session.execute(select(func.count()).select_from(Post))).scalar_one()
    finally:
        await engine.dispose()
    assert accepted == {f"crash-{i}" for i in range(N)}
    assert accepted <= stored and len(stored) == N
    assert {a.status for a in answers} == {"graded"}
    assert set(per_revision.values()) == {1}  # no revision graded twice
    by_answer = {g.answer_id: g for g in grades}
    assert len(by_answer) == len(answers) == 97
    # Points match grades: one streak-less answer per person on the day's first post.
    assert points == totals == sum(points_for(by_answer[a.id].score, late=False, streak=1) for a in answers)
    assert posts == 1
    said = read_lines(log.with_suffix(".said"))
    assert sum(1 for line in said if line["kind"] == "post") == 1
