"""Answer intake: store first (idempotently on the source message id), then acknowledge.

Nothing here waits for a grader. A person's several messages in one thread merge into one
answer; each merge or edit bumps the answer's revision and re-queues it after a quiet period,
so split answers are graded whole and only the latest text counts.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.events import AnswerDeleted, AnswerEdited, AnswerPosted, Person
from bot.points import set_answer_points
from storage.db import transaction
from storage.models import Answer, AnswerMessage, Channel, Post
from storage.repo import get_or_create_member

log = logging.getLogger(__name__)

RECEIVED_EMOJI = "eyes"


class Outcome(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    NOT_AN_ANSWER = "not_an_answer"
    UPDATED = "updated"
    IGNORED = "ignored"  # e.g. an edit after the reveal
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class IntakeResult:
    outcome: Outcome
    answer_id: int | None = None
    late: bool = False
    truncated_from: int | None = None  # original length when the stored text was cut


@dataclass(frozen=True, slots=True)
class IntakeSettings:
    quiet_period: dt.timedelta
    max_chars: int


def answer_context(post_id: int, member_id: int) -> str:
    return f"post:{post_id}:{member_id}"


@dataclass(frozen=True, slots=True)
class _MemberKey:
    id: int
    name: str


MEMBER_CACHE = 10_000

_ThreadKey = tuple[str, str, str, str]  # platform, workspace, channel, thread root


def _thread_key(event: AnswerPosted) -> _ThreadKey:
    place = event.message.place
    return (place.platform, place.workspace, place.channel, event.message.thread_id or "")


@dataclass(frozen=True, slots=True)
class Received:
    """An answer event and the moment it arrived (filing may come later: see bot/inbox.py)."""

    event: AnswerPosted
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class Filing:
    """A received answer with what filing it needs looked up: its post (None: not a reply to a
    question) and its member. Prepared outside the write transaction, which stays short."""

    received: Received
    post: Post | None = None
    member_id: int = 0
    text: str = ""
    truncated_from: int | None = None

    @property
    def context(self) -> str:
        assert self.post is not None
        return answer_context(self.post.id, self.member_id)

    @property
    def late(self) -> bool:
        post = self.post
        assert post is not None
        return post.status == "closed" or (post.closes_at is not None and self.received.at >= post.closes_at)


class Intake:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, settings: IntakeSettings):
        self._members: dict[tuple[str, str, str], _MemberKey] = {}
        self._sessions = sessions
        self._clock = clock
        self._settings = settings

    async def answer_posted(self, event: AnswerPosted) -> IntakeResult:
        """File one answer now, in its own transaction (adapters without an ack deadline)."""
        received = [Received(event, self._clock.now())]
        for _ in range(3):
            try:
                filings = await self.prepare(received)
                async with transaction(self._sessions) as session:
                    return (await self.file(session, filings))[0]
            except IntegrityError:
                # A concurrent writer created the same member or row first; the retry sees it.
                log.info("answer %s raced another writer; filing again", event.source_id)
        raise RuntimeError(f"could not store answer {event.source_id} after retries")

    async def prepare(self, batch: Sequence[Received]) -> list[Filing]:
        """Look up posts (one query for the batch) and members (cached; a new one is created in
        its own short transaction). No write lock is held across the batch."""
        async with self._sessions() as session:
            posts = await self._posts_for(session, [r.event for r in batch])
        filings = []
        for received in batch:
            post = posts.get(_thread_key(received.event))
            if post is None:
                filings.append(Filing(received))
                continue
            member = await self._member(received.event.person)
            text, truncated_from = self._cap(received.event.text)
            filings.append(Filing(received, post, member.id, text, truncated_from))
        return filings

    async def file(self, session: AsyncSession, filings: Sequence[Filing]) -> list[IntakeResult]:
        """File prepared answers inside the caller's transaction; results in the same order.

        The common case, a person's first message for a post, costs two statements for the whole
        batch (answers, then their first message rows, both INSERT ... ON CONFLICT DO NOTHING);
        a further message from someone who already answered merges into that answer.
        """
        results: list[IntakeResult | None] = [None] * len(filings)
        firsts: list[tuple[int, Filing]] = []
        merges: list[tuple[int, Filing]] = []
        contexts: set[str] = set()
        for index, filing in enumerate(filings):
            if filing.post is None:
                results[index] = IntakeResult(Outcome.NOT_AN_ANSWER)
                continue
            (merges if filing.context in contexts else firsts).append((index, filing))
            contexts.add(filing.context)
        created = await self._insert_answers(session, [f for _, f in firsts])
        for index, filing in firsts:
            if filing.context not in created:
                merges.append((index, filing))  # this person had answered before this batch
            elif (answer_id := created[filing.context]) is None:
                results[index] = IntakeResult(Outcome.DUPLICATE)
            else:
                results[index] = IntakeResult(Outcome.STORED, answer_id, late=filing.late, truncated_from=filing.truncated_from)
        if merges:
            for index, result in (await self._merge(session, sorted(merges, key=lambda pair: pair[0]))).items():
                results[index] = result
        return [r if r is not None else IntakeResult(Outcome.NOT_AN_ANSWER) for r in results]

    async def _insert_answers(self, session: AsyncSession, firsts: list[Filing]) -> dict[str, int | None]:
        """Create answers and their first message rows: context -> the new answer's id, or None
        when the message turned out to be stored already (the new answer is undone)."""
        if not firsts:
            return {}
        insert = sqlite_insert if session.bind.dialect.name == "sqlite" else postgresql_insert
        answers, messages = Answer.__table__, AnswerMessage.__table__
        quiet = self._settings.quiet_period
        assert all(f.post is not None for f in firsts)
        rows = await session.execute(
            insert(answers).on_conflict_do_nothing(index_elements=["context"]).returning(answers.c.id, answers.c.context),
            [
                {
                    "context": f.context,
                    "post_id": f.post.id,  # type: ignore[union-attr]
                    "member_id": f.member_id,
                    "question_id": f.post.question_id,  # type: ignore[union-attr]
                    "question_version": f.post.question_version,  # type: ignore[union-attr]
                    "text": f.text,
                    "truncated": f.truncated_from is not None,
                    "revision": 1,
                    "status": "pending",
                    "available_at": f.received.at + quiet,
                    "late": f.late,
                    "private": f.received.event.private,
                    "received_at": f.received.at,
                    "updated_at": f.received.at,
                }
                for f in firsts
            ],
        )
        created: dict[str, int | None] = {context: answer_id for answer_id, context in rows}
        if not created:
            return created
        stored = await session.execute(
            insert(messages).on_conflict_do_nothing(index_elements=["source_id"]).returning(messages.c.source_id),
            [
                {
                    "source_id": f.received.event.source_id,
                    "answer_id": created[f.context],
                    "text": f.text,
                    "deleted": False,
                    "received_at": f.received.at,
                }
                for f in firsts
                if f.context in created
            ],
        )
        stored_sources = set(stored.scalars())
        # A message stored before under another answer (replayed after that answer was removed
        # and its context re-created) must not make a second answer: undo those rows.
        replayed = [f.context for f in firsts if f.context in created and f.received.event.source_id not in stored_sources]
        if replayed:
            await session.execute(delete(answers).where(answers.c.id.in_([created[c] for c in replayed])))
            created.update(dict.fromkeys(replayed))
        return created

    async def _merge(self, session: AsyncSession, merges: list[tuple[int, Filing]]) -> dict[int, IntakeResult]:
        """Further messages from people who already answered join their answers, in arrival order.

        Three statements for the whole chunk (lock the answers, insert the messages, read the
        merged texts) instead of four per message: under a stream where people add to their
        answers, merging was most of the filing cost (measured with bench.slack_stream).
        """
        contexts = sorted({filing.context for _, filing in merges})
        answers = {
            a.context: a
            for a in (
                await session.execute(select(Answer).where(Answer.context.in_(contexts)).order_by(Answer.id).with_for_update())
            ).scalars()
        }
        insert = sqlite_insert if session.bind.dialect.name == "sqlite" else postgresql_insert
        messages = AnswerMessage.__table__
        stored = set(
            (
                await session.execute(
                    insert(messages).on_conflict_do_nothing(index_elements=["source_id"]).returning(messages.c.source_id),
                    [
                        {
                            "source_id": filing.received.event.source_id,
                            "answer_id": answers[filing.context].id,
                            "text": filing.text,
                            "deleted": False,
                            "received_at": filing.received.at,
                        }
                        for _, filing in merges
                    ],
                )
            ).scalars()
        )
        changed = {answers[f.context].id for _, f in merges if f.received.event.source_id in stored}
        texts: dict[int, list[str]] = {answer_id: [] for answer_id in changed}
        if changed:
            rows = await session.execute(
                select(AnswerMessage.answer_id, AnswerMessage.text)
                .where(AnswerMessage.answer_id.in_(sorted(changed)), AnswerMessage.deleted.is_(False))
                .order_by(AnswerMessage.id)
            )
            for answer_id, text in rows:
                if text:
                    texts[answer_id].append(text)
        results: dict[int, IntakeResult] = {}
        for index, filing in merges:
            answer, event = answers[filing.context], filing.received.event
            if event.source_id not in stored:
                results[index] = IntakeResult(Outcome.DUPLICATE, answer.id)  # a redelivery of a message already filed
                continue
            merged = "\n".join(texts[answer.id])
            self._requeue(answer, merged, filing.received.at)  # once per message, as if merged one by one
            answer.truncated = answer.truncated or len(merged) > self._settings.max_chars or filing.truncated_from is not None
            answer.private = answer.private or event.private
            results[index] = IntakeResult(Outcome.STORED, answer.id, late=filing.late, truncated_from=filing.truncated_from)
        return results

    async def answer_edited(self, event: AnswerEdited) -> IntakeResult:
        now = self._clock.now()
        async with transaction(self._sessions) as session:
            found = await self._message_with_answer(session, event.source_id)
            if found is None:
                return IntakeResult(Outcome.NOT_AN_ANSWER)
            msg, answer, post = found
            if msg.deleted or answer.status == "deleted":
                return IntakeResult(Outcome.IGNORED, answer.id)  # an edit arriving after the delete
            if post is not None and post.status == "closed":
                return IntakeResult(Outcome.IGNORED, answer.id, late=True)
            text, truncated_from = self._cap(event.text)
            if msg.text == text:
                return IntakeResult(Outcome.DUPLICATE, answer.id)
            msg.text = text
            await session.flush()
            merged, cut = await self._merged_text(session, answer.id)
            self._requeue(answer, merged, now)
            answer.truncated = cut or truncated_from is not None
            return IntakeResult(Outcome.UPDATED, answer.id, truncated_from=truncated_from)

    async def answer_deleted(self, event: AnswerDeleted) -> IntakeResult:
        now = self._clock.now()
        async with transaction(self._sessions) as session:
            found = await self._message_with_answer(session, event.source_id)
            if found is None:
                return IntakeResult(Outcome.NOT_AN_ANSWER)
            msg, answer, post = found
            if msg.deleted:
                return IntakeResult(Outcome.DUPLICATE, answer.id)
            msg.deleted = True
            await session.flush()
            merged, _ = await self._merged_text(session, answer.id)
            if merged:
                self._requeue(answer, merged, now)
                return IntakeResult(Outcome.UPDATED, answer.id)
            answer.status = "deleted"
            answer.revision += 1
            answer.lease_token = None
            answer.updated_at = now
            answer.notify_pending = False
            if post is not None:
                await set_answer_points(
                    session,
                    answer,
                    post,
                    points=0,
                    counted=False,
                    reason="deleted",
                    key=f"a{answer.id}:r{answer.revision}:deleted",
                    now=now,
                )
            return IntakeResult(Outcome.DELETED, answer.id)

    # -- helpers -------------------------------------------------------------------------

    def _cap(self, text: str) -> tuple[str, int | None]:
        limit = self._settings.max_chars
        return (text, None) if len(text) <= limit else (text[:limit], len(text))

    def _requeue(self, answer: Answer, text: str, now: dt.datetime) -> None:
        answer.text = text[: self._settings.max_chars]
        answer.revision += 1
        answer.status = "pending"
        answer.lease_token = None
        answer.lease_until = None
        answer.available_at = now + self._settings.quiet_period
        answer.updated_at = now

    async def _merged_text(self, session: AsyncSession, answer_id: int) -> tuple[str, bool]:
        rows = (
            await session.execute(
                select(AnswerMessage.text)
                .where(AnswerMessage.answer_id == answer_id, AnswerMessage.deleted.is_(False))
                .order_by(AnswerMessage.id)
            )
        ).scalars()
        merged = "\n".join(t for t in rows if t)
        return merged, len(merged) > self._settings.max_chars

    async def _posts_for(self, session: AsyncSession, events: Sequence[AnswerPosted]) -> dict[_ThreadKey, Post]:
        """The open or closed posts these events reply to, in one query (claimed posts are not open yet)."""
        keys = {_thread_key(e) for e in events if e.message.thread_id is not None}
        if not keys:
            return {}
        rows = await session.execute(
            select(Post, Channel.platform, Channel.workspace, Channel.channel_ref)
            .join(Channel, Channel.id == Post.channel_id)
            .where(
                Channel.channel_ref.in_(sorted({k[2] for k in keys})),
                Post.thread_ref.in_(sorted({k[3] for k in keys})),
            )
        )
        found: dict[_ThreadKey, Post] = {}
        for post, platform, workspace, channel_ref in rows:
            key = (platform, workspace, channel_ref, post.thread_ref or "")
            if key in keys and post.status != "claimed":
                found[key] = post
        return found

    async def _member(self, person: Person) -> _MemberKey:
        """Member ids never change, so they are remembered; only a new person or a new name
        goes to the database, in a transaction of its own (a member row is harmless to keep)."""
        key = (person.platform, person.workspace, person.user_id)
        known = self._members.get(key)
        if known is not None and known.name == person.display_name:
            return known
        async with transaction(self._sessions) as session:
            member = await get_or_create_member(session, person.platform, person.workspace, person.user_id, person.display_name)
        known = _MemberKey(member.id, person.display_name)
        if len(self._members) >= MEMBER_CACHE:
            self._members.pop(next(iter(self._members)))
        self._members[key] = known
        return known

    async def _message_with_answer(
        self, session: AsyncSession, source_id: str
    ) -> tuple[AnswerMessage, Answer, Post | None] | None:
        msg = (await session.execute(select(AnswerMessage).where(AnswerMessage.source_id == source_id))).scalar_one_or_none()
        if msg is None:
            return None
        answer = (await session.execute(select(Answer).where(Answer.id == msg.answer_id).with_for_update())).scalar_one()
        post = await session.get(Post, answer.post_id) if answer.post_id is not None else None
        return msg, answer, post
