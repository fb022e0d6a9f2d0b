"""The answer inbox: accept an answer with one INSERT, file it moments later in small chunks.

Platforms with an ack deadline (Slack wants its HTTP 200 or Socket Mode ack within 3 s, and
redelivers otherwise) call `accept` before acknowledging. That is a single
`INSERT ... ON CONFLICT (source_id) DO NOTHING` and a commit: the answer is durable, and a
redelivery is a no-op. Everything else (finding the post, the member, merging split answers,
the 👀) happens in `file_pending`, `chunk` answers per transaction.

Where the inbox lives (storage.db.inbox_url):
- PostgreSQL: in the main database. A chunk is claimed (`DELETE ... WHERE id IN (SELECT ...
  FOR UPDATE SKIP LOCKED) RETURNING id`) and filed in one transaction, so replicas take
  different rows and a crash before the commit leaves the rows for the next filer.
- A SQLite file: in a file of its own next to the database. SQLite has one writer per file;
  with the inbox in the main file, every ack would queue behind whatever chunk is being filed.
  Here a chunk is filed in the main file first and deleted from the inbox after; a crash in
  between files it again, which the intake recognises by source id (nothing doubles).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.dml import Insert

from bot.clock import Clock
from bot.events import AnswerPosted, MessageRef, Person, Place
from bot.intake import Filing, Intake, IntakeResult, Received
from bot.outage import OutageLog, is_outage
from storage.db import transaction, write_connection
from storage.models import InboxMessage

log = logging.getLogger(__name__)

AfterFiled = Callable[[AnswerPosted, IntakeResult], Awaitable[None]]

# How long an edit or delete waits for the message it refers to while another replica files it.
SETTLE_SECONDS = 5.0
MAX_RETRY_DELAY = dt.timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class InboxSettings:
    batch: int = 500  # held answers read and prepared at a time
    # Answers filed per write transaction. Statements are per chunk, so a bigger chunk costs
    # less per answer (bench.slack_stream: 1.19 ms of CPU per answer at 64, 1.36 at 16, the ack
    # alone 0.94), which is what keeps filing from taking the acks' share of the process.
    chunk: int = 64
    # After an answer arrives, wait this long so a burst is filed in one transaction, not one
    # transaction per answer: fewer, shorter holds of SQLite's single write lock.
    gather: float = 0.5
    poll: float = 2.0  # look for rows left by a crash or another replica this often
    # While answers stream in, filing waits for a pause of `idle_gap` seconds between them, so
    # a short burst is acked at full speed and filed right after it; but never longer than
    # `max_defer` after an answer arrived, so under a sustained stream filing keeps pace with
    # the acks instead of building a backlog (the app caps it at MAX_FILING_LAG).
    idle_gap: float = 0.05
    max_defer: float = 0.0


# Deferring longer made a one-minute stream at 200 answers/s end with 20 s of answers still held
# (filed 13-18 s after the last ack), and filing them all then made every one of them due for
# grading at once, since the quiet period counts from when an answer arrived.
MAX_FILING_LAG = 0.5


def encode(event: AnswerPosted) -> str:
    place = event.message.place
    return json.dumps(
        {
            "person": [event.person.platform, event.person.workspace, event.person.user_id, event.person.display_name],
            "text": event.text,
            "source_id": event.source_id,
            "place": [place.platform, place.workspace, place.channel, place.is_dm],
            "message_id": event.message.message_id,
            "thread_id": event.message.thread_id,
            "private": event.private,
        },
        ensure_ascii=False,
    )


def decode(payload: str) -> AnswerPosted:
    data: dict[str, Any] = json.loads(payload)
    platform, workspace, channel, is_dm = data["place"]
    return AnswerPosted(
        Person(*data["person"]),
        data["text"],
        data["source_id"],
        MessageRef(Place(platform, workspace, channel, bool(is_dm)), data["message_id"], data["thread_id"]),
        private=bool(data["private"]),
    )


class AnswerInbox:
    def __init__(
        self,
        held: async_sessionmaker[AsyncSession],
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        intake: Intake,
        after_filed: AfterFiled,
        settings: InboxSettings | None = None,
        outage: OutageLog | None = None,
    ):
        self.outage = outage or OutageLog("database", log)
        self._held = held  # where held answers live: the main database, or a file of their own
        self._sessions = sessions
        self._same_database = held is sessions
        self._clock = clock
        self._intake = intake
        self._after_filed = after_filed
        self._settings = settings or InboxSettings()
        self._wake = asyncio.Event()
        self._last_accept = float("-inf")  # loop time of the latest accept
        # One chunk at a time in this process (the background task and an edit's `settle`).
        self._filing = asyncio.Lock()
        self._inserts: dict[str, Insert] = {}

    @property
    def held_sessions(self) -> async_sessionmaker[AsyncSession]:
        """Sessions on the database that holds the inbox (the main one, or its own SQLite file)."""
        return self._held

    # -- the ack path ---------------------------------------------------------------------------

    async def accept(self, event: AnswerPosted) -> bool:
        """Hold the answer durably; False when this message is already held (a redelivery).

        A redelivery of a message that was already filed is held again and then recognised as
        a duplicate by the intake, which is keyed on the same source id.
        """
        now = self._clock.now()
        row = {"source_id": event.source_id, "payload": encode(event), "received_at": now, "attempts": 0, "available_at": now}
        async with write_connection(self._held) as conn:
            fresh = (await conn.execute(self._insert(conn.dialect.name), row)).first() is not None
        self._last_accept = asyncio.get_running_loop().time()
        if fresh:
            self._wake.set()
        return fresh

    def _insert(self, dialect: str) -> Insert:
        statement = self._inserts.get(dialect)
        if statement is None:
            table = InboxMessage.__table__
            insert = sqlite_insert if dialect == "sqlite" else postgresql_insert
            statement = insert(table).on_conflict_do_nothing(index_elements=["source_id"]).returning(table.c.id)
            self._inserts[dialect] = statement
        return statement

    # -- filing ---------------------------------------------------------------------------------

    async def file_pending(self, *, yield_to_acks: bool = False) -> int:
        """File one batch of held answers that are due; returns how many rows were looked at.

        With `yield_to_acks` (the background task), each chunk waits for a pause in incoming
        answers first, up to `max_defer` after its oldest answer arrived.
        """
        now = self._clock.now()
        table = InboxMessage.__table__
        async with self._held() as session:
            rows = (
                await session.execute(
                    select(table.c.id, table.c.payload, table.c.received_at)
                    .where(table.c.available_at <= now)
                    .order_by(table.c.id)
                    .limit(self._settings.batch)
                )
            ).all()
        for start in range(0, len(rows), self._settings.chunk):
            part = rows[start : start + self._settings.chunk]
            if yield_to_acks:
                await self._pause_for_acks(part[0].received_at)
            await self._file_chunk(part)
            await asyncio.sleep(0)  # acks waiting for the loop go first
        return len(rows)

    async def _pause_for_acks(self, oldest: dt.datetime) -> None:
        loop = asyncio.get_running_loop()
        deadline = oldest + dt.timedelta(seconds=self._settings.max_defer)
        while (quiet := loop.time() - self._last_accept) < self._settings.idle_gap and self._clock.now() < deadline:
            await asyncio.sleep(self._settings.idle_gap - quiet)

    async def _file_chunk(self, rows: Sequence[Row[Any]]) -> None:
        async with self._filing:
            filed = await self._file_held(await self._still_held(rows))
        for filing, result in filed:
            try:
                await self._after_filed(filing.received.event, result)
            except Exception:  # the answer is filed; a failed courtesy must not stop the others
                log.warning("after filing %s", filing.received.event.source_id, exc_info=True)

    async def _still_held(self, rows: Sequence[Row[Any]]) -> dict[int, Received]:
        """The rows another filer in this process has not filed meanwhile, decoded."""
        if not self._same_database:  # (on a shared database the claim in _file_rows does this)
            table = InboxMessage.__table__
            async with self._held() as session:
                ids = [row.id for row in rows]
                left = set((await session.execute(select(table.c.id).where(table.c.id.in_(ids)))).scalars())
            rows = [row for row in rows if row.id in left]
        held: dict[int, Received] = {}
        for row in rows:
            try:
                held[row.id] = Received(decode(row.payload), row.received_at)
            except (ValueError, KeyError, TypeError):
                log.exception("held answer %s is unreadable; it stays in the inbox", row.id)
                await self._postpone(row.id)
        return held

    async def _file_held(self, held: dict[int, Received]) -> list[tuple[Filing, IntakeResult]]:
        try:
            chunk = dict(zip(held, await self._intake.prepare(list(held.values())), strict=True))
            return await self._file_rows(chunk)
        except Exception as exc:
            if is_outage(exc):
                raise  # the database is away: every row would fail alike; they stay held for the next round
            if len(held) == 1:
                row_id, received = next(iter(held.items()))
                log.exception("could not file answer %s; it stays in the inbox and is retried", received.event.source_id)
                await self._postpone(row_id)
                return []
            log.exception("filing %d held answers together failed; filing them one by one", len(held))
        filed = []
        for row_id, received in held.items():
            filed.extend(await self._file_held({row_id: received}))
        return filed

    async def _file_rows(self, chunk: dict[int, Filing]) -> list[tuple[Filing, IntakeResult]]:
        if not chunk:
            return []
        table = InboxMessage.__table__
        if not self._same_database:
            async with transaction(self._sessions) as session:
                results = await self._intake.file(session, list(chunk.values()))
            async with write_connection(self._held) as conn:
                await conn.execute(delete(table).where(table.c.id.in_(list(chunk))))
            return list(zip(chunk.values(), results, strict=True))
        async with transaction(self._sessions) as session:
            # Claim: only rows this transaction deletes are filed here; SKIP LOCKED lets
            # replicas on PostgreSQL take different rows instead of waiting for each other.
            mine = select(table.c.id).where(table.c.id.in_(list(chunk))).with_for_update(skip_locked=True)
            claimed = set((await session.execute(delete(table).where(table.c.id.in_(mine)).returning(table.c.id))).scalars())
            batch = [filing for row_id, filing in chunk.items() if row_id in claimed]
            results = await self._intake.file(session, batch) if batch else []
        return list(zip(batch, results, strict=True))

    async def _postpone(self, row_id: int) -> None:
        """Never dropped: a row that fails is retried later, backing off up to MAX_RETRY_DELAY."""
        table = InboxMessage.__table__
        async with transaction(self._held) as session:
            attempts = (
                await session.execute(
                    update(table).where(table.c.id == row_id).values(attempts=table.c.attempts + 1).returning(table.c.attempts)
                )
            ).scalar_one_or_none()
            if attempts is not None:
                delay = min(dt.timedelta(seconds=2**attempts), MAX_RETRY_DELAY)
                await session.execute(update(table).where(table.c.id == row_id).values(available_at=self._clock.now() + delay))

    async def drain(self) -> None:
        """File everything due now (tests, and the end of a burst)."""
        while await self.file_pending():
            pass

    async def run_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._wake.clear()  # an answer accepted while this batch is filed wakes the next one
            try:
                looked_at = await self.file_pending(yield_to_acks=True)
                self.outage.ok()
            except Exception as exc:
                if is_outage(exc):
                    self.outage.failed("filing held answers", exc)
                else:
                    log.exception("answer inbox: filing failed; retrying")
                looked_at = 0
            if looked_at >= self._settings.batch:
                continue  # more are waiting
            try:
                async with asyncio.timeout(self._settings.poll):
                    await self._wake.wait()
            except TimeoutError:
                continue
            await asyncio.sleep(self._settings.gather)

    # -- for edits, deletes and health -------------------------------------------------------------

    async def holds(self, source_id: str) -> bool:
        return bool(await self._held_rows(source_id))

    async def _held_rows(self, source_id: str, *, due_only: bool = False) -> Sequence[Row[Any]]:
        """The held row for a message (not yet due again after a failure: left out with `due_only`)."""
        table = InboxMessage.__table__
        query = select(table.c.id, table.c.payload, table.c.received_at).where(table.c.source_id == source_id)
        if due_only:
            query = query.where(table.c.available_at <= self._clock.now())
        async with self._held() as session:
            return (await session.execute(query)).all()

    async def settle(self, source_id: str) -> None:
        """File the message an edit or delete refers to, if it is still held, so the edit finds it.

        Only that one row: an edit must not file a whole backlog before its platform's ack."""
        deadline = asyncio.get_running_loop().time() + SETTLE_SECONDS
        while rows := await self._held_rows(source_id, due_only=True):
            await self._file_chunk(rows)
            if asyncio.get_running_loop().time() > deadline:
                log.warning("answer %s is still held after %.0f s; handling its edit without it", source_id, SETTLE_SECONDS)
                return
            if await self._held_rows(source_id, due_only=True):
                await asyncio.sleep(0.1)  # another replica is filing it: wait for its commit

    async def depth(self) -> int:
        async with self._held() as session:
            return int((await session.execute(select(func.count()).select_from(InboxMessage.__table__))).scalar_one())
