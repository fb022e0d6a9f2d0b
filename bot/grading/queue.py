"""The durable grading queue: answers rows with a status and a lease.

claim() takes due answers (PostgreSQL: FOR UPDATE SKIP LOCKED, so replicas never take the same
row); complete() stores the grade and the points in one transaction, but only while the lease
is still ours and the answer has not changed since; an expired lease returns a row to the queue.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import asdict, dataclass, replace

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.grading.model import Flag, Grade
from bot.history import answered_days, daily_post_days
from bot.points import set_answer_points
from bot.scoring import PointsRule, points_for
from bot.streaks import streak_at
from storage.db import transaction
from storage.models import Answer, GradeRow, Post


@dataclass(frozen=True, slots=True)
class Job:
    answer_id: int
    revision: int
    lease_token: str
    question_id: str
    question_version: str
    text: str
    attempts: int
    received_at: dt.datetime
    delay_notified: bool


def grade_row(
    answer_id: int,
    revision: int,
    grade: Grade,
    now: dt.datetime,
    *,
    attempt_key: str = "auto",
    set_by: str | None = None,
    reason: str | None = None,
) -> GradeRow:
    return GradeRow(
        answer_id=answer_id,
        revision=revision,
        attempt_key=attempt_key,
        current=True,
        score=grade.score,
        criteria=[{k: str(v) for k, v in asdict(c).items()} for c in grade.criteria],
        feedback=grade.feedback,
        grader=grade.grader,
        model=grade.model,
        prompt_version=grade.prompt_version,
        tokens_in=grade.tokens_in,
        tokens_out=grade.tokens_out,
        latency_ms=grade.latency_ms,
        flags=sorted(f.value for f in grade.flags),
        set_by=set_by,
        reason=reason,
        created_at=now,
    )


class GradingQueue:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], clock: Clock, lease: dt.timedelta, rule: PointsRule = PointsRule()
    ):
        self._sessions = sessions
        self._clock = clock
        self._lease = lease
        self._rule = rule

    def _due(self, now: dt.datetime):  # type: ignore[no-untyped-def]
        return or_(
            and_(Answer.status == "pending", Answer.available_at <= now),
            and_(Answer.status == "grading", Answer.lease_until < now),
        )

    async def claim(self, limit: int) -> list[Job]:
        """Take up to `limit` due answers in one atomic UPDATE ... RETURNING.

        The due condition is evaluated inside the same statement that takes the rows, so two
        workers can never both take one (PostgreSQL also skips rows another claim has locked;
        on SQLite the statement holds the write lock).
        """
        now = self._clock.now()
        token = secrets.token_hex(8)
        candidates = (
            select(Answer.id)
            .where(self._due(now))
            .order_by(Answer.available_at, Answer.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        claim = (
            update(Answer)
            .where(Answer.id.in_(candidates), self._due(now))
            .values(status="grading", lease_token=token, lease_until=now + self._lease, attempts=Answer.attempts + 1)
            .returning(
                Answer.id,
                Answer.revision,
                Answer.question_id,
                Answer.question_version,
                Answer.text,
                Answer.attempts,
                Answer.received_at,
                Answer.delay_notified,
            )
            .execution_options(synchronize_session=False)
        )
        async with self._sessions() as session:
            # A plain read first: polling an empty queue must not take SQLite's write lock.
            if (await session.execute(select(Answer.id).where(self._due(now)).limit(1))).first() is None:
                return []
        async with transaction(self._sessions) as session:
            rows = (await session.execute(claim)).all()
        return sorted(
            (
                Job(
                    r.id,
                    r.revision,
                    token,
                    r.question_id,
                    r.question_version,
                    r.text,
                    r.attempts,
                    r.received_at if r.received_at.tzinfo else r.received_at.replace(tzinfo=dt.UTC),
                    r.delay_notified,
                )
                for r in rows
            ),
            key=lambda j: j.answer_id,
        )

    async def complete(self, job: Job, grade: Grade) -> bool:
        """Store the grade and points; False when the lease was lost or the answer changed."""
        now = self._clock.now()
        try:
            async with transaction(self._sessions) as session:
                answer = await self._owned(session, job)
                if answer is None:
                    return False
                # Once feedback went out, later messages still earn better feedback (a learning
                # loop) but not points: otherwise pasting the feedback back in would raise the score.
                points_kept = await self._feedback_delivered(session, answer)
                if points_kept:
                    grade = replace(grade, flags=grade.flags | {Flag.POINTS_KEPT})
                await session.execute(
                    update(GradeRow).where(GradeRow.answer_id == answer.id, GradeRow.current.is_(True)).values(current=False)
                )
                session.add(grade_row(answer.id, answer.revision, grade, now))
                answer.status = "graded"
                answer.lease_token = None
                answer.lease_until = None
                answer.notify_pending = True
                answer.updated_at = now
                if not points_kept:
                    await self.award(
                        session, answer, grade.score, reason="grade", key=f"a{answer.id}:r{answer.revision}:grade", now=now
                    )
                return True
        except IntegrityError:
            return False  # this revision already has its grade: someone else finished first

    @staticmethod
    async def _feedback_delivered(session: AsyncSession, answer: Answer) -> bool:
        """Whether feedback on an earlier revision of this answer reached the person."""
        if answer.post_id is None or answer.revision <= 1 or answer.notify_pending:
            return False
        earlier = await session.scalar(
            select(func.count()).select_from(GradeRow).where(GradeRow.answer_id == answer.id, GradeRow.revision < answer.revision)
        )
        return bool(earlier)

    async def award(
        self, session: AsyncSession, answer: Answer, score: float, *, reason: str, key: str, now: dt.datetime
    ) -> None:
        if answer.post_id is None:
            return  # interview answers never earn channel points
        post = await session.get(Post, answer.post_id)
        assert post is not None
        run = 0
        if post.slot == 0 and not answer.late:
            days = await daily_post_days(session, post.channel_id, until=post.day)
            run = streak_at(days, await answered_days(session, post.channel_id, answer.member_id), post.day)
        await set_answer_points(
            session,
            answer,
            post,
            points=points_for(score, late=answer.late, streak=run, rule=self._rule),
            counted=not answer.late,
            reason=reason,
            key=key,
            now=now,
        )

    async def postpone(self, job: Job, delay: dt.timedelta, *, delay_notified: bool | None = None) -> bool:
        """Give the answer back to the queue to retry later (grader unavailable)."""
        now = self._clock.now()
        async with transaction(self._sessions) as session:
            answer = await self._owned(session, job)
            if answer is None:
                return False
            answer.status = "pending"
            answer.lease_token = None
            answer.lease_until = None
            answer.available_at = now + delay
            if delay_notified is not None:
                answer.delay_notified = delay_notified
            return True

    async def _owned(self, session: AsyncSession, job: Job) -> Answer | None:
        answer = (await session.execute(select(Answer).where(Answer.id == job.answer_id).with_for_update())).scalar_one_or_none()
        if answer is None or answer.lease_token != job.lease_token or answer.revision != job.revision:
            return None
        return answer

    async def depth(self) -> int:
        async with self._sessions() as session:
            return int(
                (
                    await session.execute(
                        select(func.count()).select_from(Answer).where(Answer.status.in_(("pending", "grading")))
                    )
                ).scalar_one()
            )
