"""Shared fixtures: databases (SQLite and PostgreSQL), a frozen clock, the fake chat, and a
`team` conversation harness so core tests read like transcripts."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from bot.clock import FrozenClock
from content.loader import QuestionBank, load_file
from storage.db import upgrade_sync
from tests.fake_chat import FakeChat
from tests.harness import Team

DATA = Path(__file__).parent / "data"
PG_URL = os.environ.get("REPBOT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("REPBOT_REQUIRE_POSTGRES") == "1"


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _postgres_reason() -> str | None:
    try:
        conn = await asyncpg.connect(_asyncpg_dsn(PG_URL), timeout=3)
        await conn.close()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not available here"
        return f"PostgreSQL not reachable at {make_url(PG_URL).render_as_string(hide_password=True)}: {exc!r}"


def in_thread(fn, *args):  # type: ignore[no-untyped-def]
    """Run blocking set-up (its own asyncio.run inside) away from the test's event loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    reason = in_thread(asyncio.run, _postgres_reason())
    if reason:
        if REQUIRE_PG:
            pytest.fail(f"REPBOT_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    name = f"repbot_t_{secrets.token_hex(6)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(PG_URL))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    in_thread(asyncio.run, admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        in_thread(asyncio.run, admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, migrated to head, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'repbot.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    in_thread(upgrade_sync, url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'repbot.db'}"


@pytest.fixture
def test_bank() -> QuestionBank:
    questions, problems = load_file(DATA / "bank" / "test-bank.yaml")
    assert not problems, problems
    return QuestionBank({q.id: q for q in questions})


@pytest.fixture
def clock() -> FrozenClock:
    # A Monday morning in Berlin: 08:00 UTC = 09:00 local (CET).
    return FrozenClock(dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC))


@pytest.fixture
def chat() -> FakeChat:
    return FakeChat()


@pytest_asyncio.fixture
async def team(db_url: str, test_bank: QuestionBank, clock: FrozenClock, chat: FakeChat) -> AsyncIterator[Team]:
    """A team channel on the fake chat, on both databases."""
    harness = await Team.create(db_url, test_bank, clock, chat)
    try:
        yield harness
    finally:
        await harness.close()
