"""Engine and session factory, plus the schema check run at start-up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, make_url
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class SchemaOutOfDate(Exception):
    """The database is behind (or ahead of) the code's schema."""


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


class WriteGate:
    """Serialises write transactions within one process, re-entrantly per task.

    SQLite allows one writer; without this, concurrent writers each take a pooled connection
    and then sleep in SQLite's busy handler, which turns a burst of answers into long tails.
    A FIFO asyncio lock makes them queue fairly instead. PostgreSQL needs no gate.
    """

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        me = asyncio.current_task()
        if self._owner is me:
            yield  # already inside this task's write transaction
            return
        async with self._lock:
            self._owner = me
            try:
                yield
            finally:
                self._owner = None


def make_sessionmaker(engine: AsyncEngine, *, write_gate: bool = True) -> async_sessionmaker[AsyncSession]:
    """Sessions on `engine`; on SQLite their writes queue on a WriteGate unless `write_gate` is
    off (a file whose writes are all one-statement transactions, like the answer inbox's)."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    if engine.dialect.name == "sqlite" and write_gate:
        sessions.write_gate = WriteGate()  # type: ignore[attr-defined]
    return sessions


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    return config


def upgrade_sync(url: str, revision: str = "head") -> None:
    """Run Alembic migrations (blocking; call from a thread when a loop is running)."""
    command.upgrade(alembic_config(url), revision)


async def upgrade(url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade_sync, url, revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    def _read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(_read)


async def ensure_schema(engine: AsyncEngine, url: str, *, auto_migrate: bool) -> str:
    """Upgrade an old schema (when allowed) or refuse with a clear message."""
    head = head_revision()
    current = await current_revision(engine)
    if current == head:
        return "up to date"
    if not auto_migrate:
        raise SchemaOutOfDate(
            f"database schema is at {current or 'empty'}, this version needs {head}: run `repbot db upgrade`"
            " (or set REPBOT_AUTO_MIGRATE=true)"
        )
    await upgrade(url)
    return f"upgraded {current or 'empty'} -> {head}"


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session inside one transaction: committed on success, rolled back on error."""
    gate: WriteGate | None = getattr(sessions, "write_gate", None)
    if gate is None:
        async with sessions() as session, session.begin():
            yield session
        return
    async with gate.hold(), sessions() as session, session.begin():
        yield session


@asynccontextmanager
async def write_connection(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncConnection]:
    """A Core connection inside one transaction, for hot paths that need no ORM session.

    Shares the SQLite write gate with `transaction`, so it queues behind (never collides with)
    the process's other writers.
    """
    engine: AsyncEngine = sessions.kw["bind"]
    gate: WriteGate | None = getattr(sessions, "write_gate", None)
    if gate is None:
        async with engine.begin() as conn:
            yield conn
        return
    async with gate.hold(), engine.begin() as conn:
        yield conn


def inbox_url(database_url: str) -> str:
    """Where held answers live (bot/inbox.py): a SQLite file gets a sibling file of its own
    (`repbot.db` -> `repbot.inbox.db`), so the acknowledgement path never waits for SQLite's one
    write lock on the main file; PostgreSQL (row locks) and in-memory SQLite keep them inside."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        return database_url
    path = Path(url.database)
    return url.set(database=str(path.with_name(f"{path.stem}.inbox{path.suffix or '.db'}"))).render_as_string(hide_password=False)


async def ensure_inbox_file(engine: AsyncEngine) -> None:
    """The inbox file has one table, created on first use (the main schema is Alembic's)."""
    from storage.models import InboxMessage

    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: InboxMessage.__table__.create(sync, checkfirst=True))
