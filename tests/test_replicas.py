"""Three real bot processes on one PostgreSQL database through a simulated week with many
channels: one post per channel and scheduled day, one reveal, every answer graded once."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.db import make_engine, make_sessionmaker
from storage.models import Answer, GradeRow, MemberTotal, Post, ScoreEvent
from tests.procs import read_lines

ROOT = Path(__file__).resolve().parents[1]
CHANNELS, PEOPLE, DAYS = 12, 4, 7  # Mon..Sun: five scheduled days


@pytest.mark.slow
async def test_three_replicas_one_week(postgres_url: str, tmp_path: Path) -> None:
    from storage.db import upgrade

    await upgrade(postgres_url)
    log = tmp_path / "said.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.replica_bot",
            postgres_url,
            str(log),
            f"r{i}",
            str(CHANNELS),
            str(PEOPLE),
            str(DAYS),
            cwd=ROOT,
            env=env,
            stderr=asyncio.subprocess.PIPE,
        )
        for i in range(3)
    ]
    results = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), timeout=400)
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err.decode()[-3000:]

    said = read_lines(log)
    posts = Counter(line["channel"] for line in said if line["kind"] == "post")
    reveals = Counter(line["thread"] for line in said if "reveal" in line["tags"])
    assert posts == {f"C{c:03d}": 5 for c in range(CHANNELS)}  # weekdays only, exactly once each
    assert len(reveals) == CHANNELS * 5 and set(reveals.values()) == {1}
    assert len({line["process"] for line in said if line["kind"] == "post"}) >= 2  # the work really was shared
    feedback = Counter(line["to"] for line in said if "feedback" in line["tags"])
    assert sum(feedback.values()) == CHANNELS * 5 * PEOPLE

    engine = make_engine(postgres_url)
    sessions = make_sessionmaker(engine)
    try:
        async with sessions() as session:
            answers = (await session.execute(select(func.count()).select_from(Answer))).scalar_one()
            per_answer = Counter((await session.execute(select(GradeRow.answer_id))).scalars())
            per_day = Counter((await session.execute(select(Post.channel_id, Post.day))).all())
            points = (await session.execute(select(func.sum(ScoreEvent.points)))).scalar_one()
            totals = (await session.execute(select(func.sum(MemberTotal.points)))).scalar_one()
        assert answers == CHANNELS * 5 * PEOPLE
        assert len(per_answer) == answers and set(per_answer.values()) == {1}
        assert set(per_day.values()) == {1}
        assert points == totals
    finally:
        await engine.dispose()
