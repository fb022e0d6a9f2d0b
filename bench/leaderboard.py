"""Leaderboard reads as history grows: 10k vs 1M score events, SQLite and PostgreSQL.

The team stays the same size (10 channels x 50 people); only history gets longer (20 days vs
2,000 days). Weekly top-10 reads a date range through the (channel, day, member) index; all
time reads the incrementally kept totals. Target: time(1M) / time(10k) <= 2 for both.

    python -m bench.leaderboard
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import asyncpg
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from bench.common import Row, check, print_rows
from bot.leaderboard import Leaderboard
from storage.db import make_engine, make_sessionmaker, upgrade
from storage.models import Channel, Member, MemberTotal, ScoreEvent

CHANNELS, PEOPLE = 10, 50
TODAY = dt.date(2030, 1, 9)  # a Wednesday
PG_URL = os.environ.get("REPBOT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
READS = 40


async def _fill(url: str, events: int) -> None:
    engine = make_engine(url)
    now = dt.datetime(2030, 1, 9, tzinfo=dt.UTC)
    days = events // (CHANNELS * PEOPLE)
    async with engine.begin() as conn:
        await conn.execute(
            insert(Channel),
            [
                {
                    "id": c + 1,
                    "platform": "bench",
                    "workspace": "w",
                    "channel_ref": f"c{c}",
                    "name": f"c{c}",
                    "timezone": "UTC",
                    "post_time": "09:00",
                    "weekdays": "mon,tue,wed,thu,fri",
                    "window_hours": 8.0,
                    "topics": [],
                    "skip_days": [],
                }
                for c in range(CHANNELS)
            ],
        )
        await conn.execute(
            insert(Member),
            [
                {"id": m + 1, "platform": "bench", "workspace": "w", "user_ref": f"u{m}", "display_name": f"user {m}"}
                for m in range(PEOPLE)
            ],
        )
    totals: dict[tuple[int, int], int] = {}
    batch: list[dict] = []
    n = 0
    async with engine.begin() as conn:
        for d in range(days):
            day = TODAY - dt.timedelta(days=d)
            for c in range(1, CHANNELS + 1):
                for m in range(1, PEOPLE + 1):
                    points = (c * 7 + m * 13 + d * 3) % 12
                    totals[(c, m)] = totals.get((c, m), 0) + points
                    batch.append(
                        {
                            "key": f"e{n}",
                            "channel_id": c,
                            "member_id": m,
                            "day": day,
                            "points": points,
                            "answers": 1,
                            "reason": "grade",
                            "created_at": now,
                        }
                    )
                    n += 1
                    if len(batch) >= 20_000:
                        await conn.execute(insert(ScoreEvent), batch)
                        batch = []
        if batch:
            await conn.execute(insert(ScoreEvent), batch)
        await conn.execute(
            insert(MemberTotal), [{"channel_id": c, "member_id": m, "points": p, "answers": days} for (c, m), p in totals.items()]
        )
    async with engine.connect() as conn:
        await conn.exec_driver_sql("ANALYZE")
    await engine.dispose()


async def _time_side_by_side(small_url: str, large_url: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """Alternate reads on both databases so warm-up and machine noise hit both equally."""
    engines = [make_engine(small_url), make_engine(large_url)]
    boards = [Leaderboard(make_sessionmaker(e)) for e in engines]
    monday = TODAY - dt.timedelta(days=TODAY.weekday())
    for board in boards * 3:  # warm caches and connection pools
        await board.period(1, monday)
        await board.all_time(1)
    samples: list[tuple[list[float], list[float]]] = [([], []), ([], [])]
    for i in range(READS):
        channel = 1 + i % CHANNELS
        for which, board in enumerate(boards):
            t0 = time.perf_counter()
            rows = await board.period(channel, monday)
            t1 = time.perf_counter()
            top = await board.all_time(channel)
            t2 = time.perf_counter()
            assert len(rows) == 10 and len(top) == 10
            samples[which][0].append(t1 - t0)
            samples[which][1].append(t2 - t1)
    for engine in engines:
        await engine.dispose()
    small, large = ((statistics.median(w), statistics.median(a)) for w, a in samples)
    return small, large


async def _sqlite(folder: Path) -> tuple[str, str]:
    urls = []
    for events in (10_000, 1_000_000):
        url = f"sqlite+aiosqlite:///{folder / f'lb-{events}.db'}"
        await upgrade(url)
        await _fill(url, events)
        urls.append(url)
    return urls[0], urls[1]


async def _postgres_db(admin: asyncpg.Connection, events: int, names: list[str]) -> str:
    name = f"repbot_bench_{secrets.token_hex(4)}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    names.append(name)
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    await upgrade(url)
    await _fill(url, events)
    return url


async def _run() -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        small, large = await _time_side_by_side(*await _sqlite(Path(tmp)))
        rows += _rows("sqlite", small, large)
    dsn = make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        admin = await asyncpg.connect(dsn, timeout=3)
    except Exception:  # noqa: BLE001 - no server here: say so in the table
        return rows + [Row("leaderboard postgresql", float("nan"), detail="PostgreSQL not reachable: skipped")]
    names: list[str] = []
    try:
        small_url = await _postgres_db(admin, 10_000, names)
        large_url = await _postgres_db(admin, 1_000_000, names)
        small, large = await _time_side_by_side(small_url, large_url)
        rows += _rows("postgresql", small, large)
    finally:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return rows


def _rows(backend: str, small: tuple[float, float], large: tuple[float, float]) -> list[Row]:
    out = []
    for label, s, big in (("weekly top-10", small[0], large[0]), ("all-time top-10", small[1], large[1])):
        ratio = big / s
        out.append(
            Row(
                f"leaderboard {label} {backend} 1M/10k",
                ratio,
                "ratio",
                "<= 2",
                check(ratio, "<= 2"),
                f"{s * 1000:.2f} ms vs {big * 1000:.2f} ms (median of {READS}, interleaved)",
            )
        )
    return out


def run() -> list[Row]:
    return asyncio.run(_run())


if __name__ == "__main__":
    print_rows(run())
