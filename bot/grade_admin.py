"""Admin corrections: set a grade by hand or re-grade an answer, recorded with who and why.

Both write a new grade row (the old one stays, no longer current) and move the points by the
difference in the same transaction, so the leaderboard follows every correction exactly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.grading.model import Flag, Grade, clamp_score
from bot.grading.queue import GradingQueue, grade_row
from bot.ports import Grader
from content.loader import QuestionBank
from storage.db import transaction
from storage.models import Answer, GradeRow

INTERVIEW_ANSWERS = "Interview answers are private and are not graded by admins."


class GradeAdminError(ValueError):
    """Something an admin asked for that cannot be done; the message says why."""


class GradeAdmin:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        queue: GradingQueue,
        grader: Grader,
        bank: QuestionBank,
        clock: Clock,
        on_graded: Callable[[int], Awaitable[None]],
    ):
        self._on_graded = on_graded
        self._sessions = sessions
        self._queue = queue
        self._grader = grader
        self._bank = bank
        self._clock = clock

    async def set_grade(self, answer_id: int, score: float, by: str, reason: str) -> Grade:
        if not 0 <= score <= 10:
            raise GradeAdminError("A score is between 0 and 10.")
        grade = Grade(
            score=clamp_score(score),
            criteria=(),
            feedback=f"Grade set by an admin: {reason or 'no reason given'}.",
            grader="manual",
            flags=frozenset({Flag.MANUAL}),
        )
        await self._store(answer_id, grade, "manual", by, reason)
        return grade

    async def regrade(self, answer_id: int, by: str, reason: str = "regrade") -> Grade:
        async with self._sessions() as session:
            answer = await session.get(Answer, answer_id)
        if answer is None or answer.status == "deleted":
            raise GradeAdminError(f"There is no answer #{answer_id}.")
        if answer.interview_id is not None:
            raise GradeAdminError(INTERVIEW_ANSWERS)
        question = self._bank.get(answer.question_id)
        if question is None:
            raise GradeAdminError(f"Answer #{answer_id} is for a question no longer in the bank.")
        grade = await self._grader.grade(question, answer.text)
        await self._store(answer_id, grade, "regrade", by, reason, revision=answer.revision)
        return grade

    async def _store(self, answer_id: int, grade: Grade, kind: str, by: str, reason: str, *, revision: int | None = None) -> None:
        """Store an admin's grade; with `revision`, only if the answer was not edited meanwhile."""
        now = self._clock.now()
        async with transaction(self._sessions) as session:
            answer = (await session.execute(select(Answer).where(Answer.id == answer_id).with_for_update())).scalar_one_or_none()
            if answer is None or answer.status == "deleted":
                raise GradeAdminError(f"There is no answer #{answer_id}.")
            if answer.interview_id is not None:
                raise GradeAdminError(INTERVIEW_ANSWERS)
            if revision is not None and answer.revision != revision:
                raise GradeAdminError(f"Answer #{answer_id} was edited while it was regraded; it is queued for grading again.")
            count = (
                await session.execute(select(func.count()).select_from(GradeRow).where(GradeRow.answer_id == answer_id))
            ).scalar_one()
            attempt_key = f"{kind}:{count + 1}"
            await session.execute(
                update(GradeRow).where(GradeRow.answer_id == answer_id, GradeRow.current.is_(True)).values(current=False)
            )
            session.add(
                grade_row(answer.id, answer.revision, grade, now, attempt_key=attempt_key, set_by=by, reason=reason or None)
            )
            if answer.status in ("pending", "grading"):
                answer.lease_token = None  # a queued automatic grade must not override the admin's
            answer.status = "graded"
            answer.notify_pending = True
            await self._queue.award(session, answer, grade.score, reason=kind, key=f"a{answer.id}:{attempt_key}", now=now)
        await self._on_graded(answer_id)  # the person sees the corrected grade
