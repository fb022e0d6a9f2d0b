"""Answer intake: store first (idempotently on the source message id), then acknowledge.

Nothing here waits for a grader. A person's several messages in one thread merge into one
answer; each merge or edit bumps the answer's revision and re-queues it after a quiet period,
so split answers are graded whole and only the latest text counts.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
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


class Intake:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, settings: IntakeSettings):
        self._members: dict[tuple[str, str, str], _MemberKey] = {}
        self._sessions = sessions
        self._clock = clock
        self._settings = settings

    async def answer_posted(self, event: AnswerPosted) -> IntakeResult:
        for _ in range(3):
            try:
                return await self._store(event)
            except IntegrityError:
                # Either this very message was stored concurrently (a retry racing the first
                # delivery) or the person's answer row was created by a sibling message.
                if await self._source_exists(event.source_id):
                    return IntakeResult(Outcome.DUPLICATE)
        raise RuntimeError(f"could not store answer {event.source_id} after retries")

    async def _store(self, event: AnswerPosted) -> IntakeResult:
        now = self._clock.now()
        # The hot path of every answer, kept to a few statements: a replayed message is caught
        # by the unique source_id when its row is flushed (see answer_posted), not by a lookup.
        async with transaction(self._sessions) as session:
            post = await self._post_for_thread(session, event)
            if post is None:
                return IntakeResult(Outcome.NOT_AN_ANSWER)
            member = await self._member(session, event.person)
            late = post.status == "closed" or (post.closes_at is not None and now >= post.closes_at)
            text, truncated_from = self._cap(event.text)
            context = answer_context(post.id, member.id)
            fresh = await self._insert_first_message(session, post, member.id, context, event, text, truncated_from, late, now)
            if fresh is not None:
                return IntakeResult(Outcome.STORED, fresh, late=late, truncated_from=truncated_from)
            # This person already answered this post: merge the new message into that answer.
            answer = (await session.execute(select(Answer).where(Answer.context == context).with_for_update())).scalar_one()
            session.add(AnswerMessage(source_id=event.source_id, answer_id=answer.id, text=text, received_at=now))
            await session.flush()
            merged, cut = await self._merged_text(session, answer.id)
            self._requeue(answer, merged, now)
            answer.truncated = answer.truncated or cut or truncated_from is not None
            answer.private = answer.private or event.private
            return IntakeResult(Outcome.STORED, answer.id, late=late, truncated_from=truncated_from)

    async def _insert_first_message(
        self,
        session: AsyncSession,
        post: Post,
        member_id: int,
        context: str,
        event: AnswerPosted,
        text: str,
        truncated_from: int | None,
        late: bool,
        now: dt.datetime,
    ) -> int | None:
        """The common case in two statements: a person's first message for a post creates the
        answer and its message row. None when the answer exists already (merge instead)."""
        insert = sqlite_insert if session.bind.dialect.name == "sqlite" else postgresql_insert
        answer_id = (
            await session.execute(
                insert(Answer)
                .values(
                    context=context,
                    post_id=post.id,
                    member_id=member_id,
                    question_id=post.question_id,
                    question_version=post.question_version,
                    text=text,
                    truncated=truncated_from is not None,
                    revision=1,
                    status="pending",
                    available_at=now + self._settings.quiet_period,
                    late=late,
                    private=event.private,
                    received_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing(index_elements=["context"])
                .returning(Answer.id)
            )
        ).scalar_one_or_none()
        if answer_id is None:
            return None
        stored = (
            await session.execute(
                insert(AnswerMessage)
                .values(source_id=event.source_id, answer_id=answer_id, text=text, received_at=now)
                .on_conflict_do_nothing(index_elements=["source_id"])
                .returning(AnswerMessage.id)
            )
        ).scalar_one_or_none()
        if stored is None:
            # The message was stored before under another answer (a replay after that answer was
            # deleted and re-created): undo this transaction and report the duplicate.
            raise IntegrityError("replayed message", None, Exception(event.source_id))
        return answer_id

    async def answer_edited(self, event: AnswerEdited) -> IntakeResult:
        now = self._clock.now()
        async with transaction(self._sessions) as session:
            found = await self._message_with_answer(session, event.source_id)
            if found is None:
                return IntakeResult(Outcome.NOT_AN_ANSWER)
            msg, answer, post = found
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

    async def _source_exists(self, source_id: str) -> bool:
        query = select(AnswerMessage.id).where(AnswerMessage.source_id == source_id)
        async with self._sessions() as session:
            return (await session.execute(query)).first() is not None

    async def _post_for_thread(self, session: AsyncSession, event: AnswerPosted) -> Post | None:
        place = event.message.place
        thread = event.message.thread_id
        if thread is None:
            return None
        post = (
            await session.execute(
                select(Post)
                .join(Channel, Channel.id == Post.channel_id)
                .where(
                    Channel.platform == place.platform,
                    Channel.workspace == place.workspace,
                    Channel.channel_ref == place.channel,
                    Post.thread_ref == thread,
                )
            )
        ).scalar_one_or_none()
        if post is None or post.status == "claimed":
            return None
        return post

    async def _member(self, session: AsyncSession, person: Person) -> _MemberKey:
        """Member ids never change, so they are remembered; only a new name goes to the database."""
        key = (person.platform, person.workspace, person.user_id)
        known = self._members.get(key)
        if known is not None and known.name == person.display_name:
            return known
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
