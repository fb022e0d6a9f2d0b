"""The dashboard's overview page as history grows: a workspace of 50 channels with 10k vs 1M
score events, SQLite and PostgreSQL.

Same team (50 channels x 5 people, each answering about six questions in seven), longer history:
a daily question for 47 days vs 4,667 days, each with its answers, grades and score events, as
the bot writes them. The workspace overview is fetched over HTTP from the bot's own aiohttp routes,
alternating between the two databases. Target: time(1M) / time(10k) <= 2; the server's time for
the page at 1M is reported too (handler start to response ready).

    python -m bench.dashboard
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
from aiohttp import ClientSession, web
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from bench.common import Row, check
from bot.clock import FrozenClock
from bot.dashboard.data import DashboardData
from bot.dashboard.links import DashboardLinks, Scope
from bot.dashboard.web import DashboardWeb
from bot.leaderboard import Leaderboard
from bot.reports import Reports
from content.loader import QuestionBank, load_bank
from storage.db import make_engine, make_sessionmaker, upgrade
from storage.models import Answer, Channel, GradeRow, Member, MemberTotal, Post, ScoreEvent

CHANNELS, PEOPLE = 50, 5
NOW = dt.datetime(2030, 1, 9, 12, 0, tzinfo=dt.UTC)  # a Wednesday
TODAY = NOW.date()
PG_URL = os.environ.get("REPBOT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
READS = 20
SECRET = "bench-dashboard-signing-key"


def _answers(m: int, d: int) -> bool:
    return (m + d) % 7 != 0  # everyone skips about one day in seven, on different days


def _days_for(events: int) -> int:
    return math.ceil(events * 7 / (CHANNELS * PEOPLE * 6))


async def _fill(url: str, events: int, bank: QuestionBank) -> int:
    """History as the bot writes it; returns the number of score events stored."""
    engine = make_engine(url)
    questions = [q for q in bank.all() if q.rubric]
    days = _days_for(events)
    async with engine.begin() as conn:
        await conn.execute(
            insert(Channel),
            [
                {
                    "id": c + 1,
                    "platform": "bench",
                    "workspace": "w",
                    "channel_ref": f"c{c}",
                    "name": f"team-{c}",
                    "timezone": "UTC",
                    "post_time": "09:00",
                    "weekdays": "mon,tue,wed,thu,fri,sat,sun",
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
                {"id": i + 1, "platform": "bench", "workspace": "w", "user_ref": f"u{i}", "display_name": f"person {i}"}
                for i in range(CHANNELS * PEOPLE)
            ],
        )
    totals: dict[tuple[int, int], list[int]] = {}
    posts: list[dict] = []
    answers: list[dict] = []
    grades: list[dict] = []
    scores: list[dict] = []
    stored = 0
    post_id = answer_id = 0

    async def flush(conn) -> None:  # type: ignore[no-untyped-def]
        for model, rows in ((Post, posts), (Answer, answers), (GradeRow, grades), (ScoreEvent, scores)):
            if rows:
                await conn.execute(insert(model), rows)
                rows.clear()

    async with engine.begin() as conn:
        for d in range(days):
            day = TODAY - dt.timedelta(days=d)
            posted = dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC)
            question = questions[d % len(questions)]
            for c in range(1, CHANNELS + 1):
                post_id += 1
                posts.append(
                    {
                        "id": post_id,
                        "channel_id": c,
                        "day": day,
                        "slot": 0,
                        "question_id": question.id,
                        "question_version": "1",
                        "status": "open" if d == 0 else "closed",
                        "posted_at": posted,
                        "closes_at": posted + dt.timedelta(hours=8),
                    }
                )
                for m in range(PEOPLE):
                    if not _answers(m, d):
                        continue
                    member = (c - 1) * PEOPLE + m + 1
                    answer_id += 1
                    score = float((c * 7 + m * 13 + d * 3) % 11)
                    points = int(score) + 1
                    total = totals.setdefault((c, member), [0, 0])
                    total[0] += points
                    total[1] += 1
                    answers.append(
                        {
                            "id": answer_id,
                            "context": f"post:{post_id}:{member}",
                            "post_id": post_id,
                            "member_id": member,
                            "question_id": question.id,
                            "question_version": "1",
                            "text": "an answer",
                            "status": "graded",
                            "available_at": posted,
                            "points_awarded": points,
                            "counted": True,
                            "received_at": posted,
                            "updated_at": posted,
                        }
                    )
                    grades.append(
                        {
                            "answer_id": answer_id,
                            "revision": 1,
                            "attempt_key": "auto",
                            "current": True,
                            "score": score,
                            "criteria": [
                                {"criterion_id": r.id, "verdict": "missed" if (answer_id + i) % 3 == 0 else "hit"}
                                for i, r in enumerate(question.rubric)
                            ],
                            "feedback": "",
                            "grader": "offline",
                            "flags": [],
                            "created_at": posted,
                        }
                    )
                    scores.append(
                        {
                            "key": f"a{answer_id}:r1:grade",
                            "channel_id": c,
                            "member_id": member,
                            "answer_id": answer_id,
                            "day": day,
                            "points": points,
                            "answers": 1,
                            "reason": "grade",
                            "created_at": posted,
                        }
                    )
                    stored += 1
            if len(scores) >= 10_000:
                await flush(conn)
        await flush(conn)
        await conn.execute(
            insert(MemberTotal),
            [{"channel_id": c, "member_id": m, "points": p, "answers": a} for (c, m), (p, a) in totals.items()],
        )
    # Committed: a rolled-back ANALYZE leaves PostgreSQL with no column statistics at all, and
    # plans no real database (where autovacuum analyzes) would get.
    async with engine.begin() as conn:
        await conn.exec_driver_sql("ANALYZE")
    await engine.dispose()
    return stored


class _Site:
    """The dashboard's routes on a loopback port, as the bot serves them, timing each handler."""

    def __init__(self, url: str, bank: QuestionBank):
        self.engine = make_engine(url)
        sessions = make_sessionmaker(self.engine)
        clock = FrozenClock(NOW)
        board = Leaderboard(sessions, bank)
        self.links = DashboardLinks(sessions, clock, dt.timedelta(days=7), SECRET)
        self.web = DashboardWeb(self.links, DashboardData(sessions, bank, board, Reports(sessions, bank), clock))
        self.server_times: list[float] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        @web.middleware
        async def timed(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            response = await handler(request)
            self.server_times.append(time.perf_counter() - t0)
            return response

        app = web.Application(middlewares=[timed])
        self.web.add_routes(app)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        token, _ = await self.links.issue(Scope("bench", "w"))
        self.url = f"http://127.0.0.1:{port}/dashboard/{token}/"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        await self.engine.dispose()


async def _time_side_by_side(small_url: str, large_url: str, bank: QuestionBank) -> tuple[float, float, float, int]:
    """Alternate page loads on both databases so warm-up and machine noise hit both equally.
    Returns (median request 10k, median request 1M, median server time 1M, page bytes at 1M)."""
    sites = [_Site(small_url, bank), _Site(large_url, bank)]
    for site in sites:
        await site.start()
    samples: list[list[float]] = [[], []]
    size = 0
    try:
        async with ClientSession() as http:
            for _ in range(3):  # warm caches and connection pools
                for site in sites:
                    async with http.get(site.url) as resp:
                        assert resp.status == 200, resp.status
                        await resp.read()
            for site in sites:
                site.server_times.clear()
            for _ in range(READS):
                for which, site in enumerate(sites):
                    t0 = time.perf_counter()
                    async with http.get(site.url) as resp:
                        body = await resp.read()
                        assert resp.status == 200 and b"team-" in body
                    samples[which].append(time.perf_counter() - t0)
                    size = len(body)
        server_large = statistics.median(sites[1].server_times)
    finally:
        for site in sites:
            await site.stop()
    return statistics.median(samples[0]), statistics.median(samples[1]), server_large, size


async def _postgres_db(admin: asyncpg.Connection, events: int, names: list[str], bank: QuestionBank) -> tuple[str, int]:
    name = f"repbot_bench_{secrets.token_hex(4)}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    names.append(name)
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    await upgrade(url)
    return url, await _fill(url, events, bank)


async def _run() -> list[Row]:
    bank = load_bank([])
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        urls, counts = [], []
        for events in (10_000, 1_000_000):
            url = f"sqlite+aiosqlite:///{Path(tmp) / f'dash-{events}.db'}"
            await upgrade(url)
            counts.append(await _fill(url, events, bank))
            urls.append(url)
        rows += _rows("sqlite", counts, *await _time_side_by_side(urls[0], urls[1], bank))
    # Absolute times move with whatever else the machine runs; the ratio is interleaved and does not.
    dsn = make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        admin = await asyncpg.connect(dsn, timeout=3)
    except Exception:  # noqa: BLE001 - no server here: say so in the table
        return rows + [Row("dashboard overview postgresql", float("nan"), detail="PostgreSQL not reachable: skipped")]
    names: list[str] = []
    try:
        small_url, small_n = await _postgres_db(admin, 10_000, names, bank)
        large_url, large_n = await _postgres_db(admin, 1_000_000, names, bank)
        rows += _rows("postgresql", [small_n, large_n], *await _time_side_by_side(small_url, large_url, bank))
    finally:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return rows


def _rows(backend: str, counts: list[int], small: float, large: float, server: float, size: int) -> list[Row]:
    ratio = large / small
    return [
        Row(
            f"dashboard overview, 50 channels, {backend} 1M/10k",
            ratio,
            "ratio",
            "<= 2",
            check(ratio, "<= 2"),
            f"{small * 1000:.1f} ms vs {large * 1000:.1f} ms per page over HTTP (median of {READS}, interleaved); "
            f"{counts[0]:,} vs {counts[1]:,} score events",
        ),
        Row(
            f"dashboard overview server time, {backend} 1M",
            server * 1000,
            "ms",
            "",
            None,
            f"handler start to response, median of {READS}; page {size / 1024:.0f} KiB; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
        ),
    ]


def run() -> list[Row]:
    return asyncio.run(_run())


if __name__ == "__main__":
    from bench.common import print_rows

    print_rows(run())
