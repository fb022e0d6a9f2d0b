"""Delivering grades to the people who answered: private by default, public per channel.

Delivery is claimed in the database first (notify_pending true -> false) so two replicas never
both send it; a failed send puts the claim back so the feedback is retried, not lost.
"""

from __future__ import annotations

import logging

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.events import MessageRef, Person, Place
from bot.grading.model import CriterionResult, Flag, Grade, Verdict
from bot.grading.worker import GradeListener
from bot.ports import Chat
from bot.views import feedback_message, grading_delayed_message
from content.loader import QuestionBank
from storage.models import Answer, Channel, GradeRow, Member, Post

log = logging.getLogger(__name__)


def grade_from_row(row: GradeRow) -> Grade:
    return Grade(
        score=row.score,
        criteria=tuple(
            CriterionResult(c["criterion_id"], Verdict(c["verdict"]), c.get("evidence", ""), c.get("reason", ""))
            for c in row.criteria
        ),
        feedback=row.feedback,
        grader=row.grader,
        model=row.model,
        prompt_version=row.prompt_version,
        tokens_in=row.tokens_in,
        tokens_out=row.tokens_out,
        latency_ms=row.latency_ms,
        flags=frozenset(Flag(f) for f in row.flags),
    )


def place_of(channel: Channel) -> Place:
    return Place(channel.platform, channel.workspace, channel.channel_ref)


def person_of(member: Member) -> Person:
    return Person(member.platform, member.workspace, member.user_ref, member.display_name)


def thread_of(channel: Channel, post: Post) -> MessageRef:
    return MessageRef(place_of(channel), post.message_ref or "", post.thread_ref or post.message_ref)


class FeedbackNotifier:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], chat: Chat, bank: QuestionBank):
        self._sessions = sessions
        self._chat = chat
        self._bank = bank
        self.interviews: GradeListener | None = None  # set when the interview service exists

    async def _post_answer(self, session: AsyncSession, answer_id: int, delayed: bool) -> Answer | None:
        """The answer when it belongs to a channel post; interview answers go to the interview service."""
        answer = await session.get(Answer, answer_id)
        if answer is None or answer.interview_id is None:
            return answer
        if self.interviews is not None:
            await (self.interviews.delayed if delayed else self.interviews.graded)(answer_id)
        return None

    async def graded(self, answer_id: int) -> None:
        async with self._sessions() as session:
            answer = await self._post_answer(session, answer_id, delayed=False)
            if answer is None:
                return
            if not await self._claim(session, answer_id):
                return
            try:
                await self._send_feedback(session, answer)
            except Exception:
                log.exception("feedback for answer %s not delivered; will retry", answer_id)
                await session.execute(update(Answer).where(Answer.id == answer_id).values(notify_pending=True))
                await session.commit()

    async def delayed(self, answer_id: int) -> None:
        async with self._sessions() as session:
            answer = await self._post_answer(session, answer_id, delayed=True)
            if answer is None:
                return
            post, channel, member = await self._context(session, answer)
            await self._chat.reply(thread_of(channel, post), grading_delayed_message(), only_to=person_of(member))

    async def deliver_pending(self) -> int:
        """Send feedback that was stored but not delivered (e.g. the process died in between)."""
        async with self._sessions() as session:
            ids = (await session.execute(select(Answer.id).where(Answer.notify_pending.is_(True)))).scalars().all()
        for answer_id in ids:
            await self.graded(answer_id)
        return len(ids)

    async def _claim(self, session: AsyncSession, answer_id: int) -> bool:
        result = await session.execute(
            # Only a graded answer: one edited since its grade is pending again, and its next grade
            # is the one to send (sending the old one now would send feedback twice).
            update(Answer)
            .where(Answer.id == answer_id, Answer.notify_pending.is_(True), Answer.status == "graded")
            .values(notify_pending=False)
        )
        await session.commit()
        return result.rowcount == 1  # type: ignore[attr-defined]

    async def _context(self, session: AsyncSession, answer: Answer) -> tuple[Post, Channel, Member]:
        post = await session.get(Post, answer.post_id)
        member = await session.get(Member, answer.member_id)
        assert post is not None and member is not None
        channel = await session.get(Channel, post.channel_id)
        assert channel is not None
        return post, channel, member

    async def _send_feedback(self, session: AsyncSession, answer: Answer) -> None:
        row = (
            await session.execute(select(GradeRow).where(GradeRow.answer_id == answer.id, GradeRow.current.is_(True)))
        ).scalar_one_or_none()
        question = self._bank.get(answer.question_id)
        if row is None or question is None:
            return
        post, channel, member = await self._context(session, answer)
        only_to = None if channel.feedback_public and not answer.private else person_of(member)
        msg = feedback_message(
            question,
            grade_from_row(row),
            late=answer.late,
            points=answer.points_awarded,
            answer_id=answer.id,
            extra=post.slot > 0,
            answerer=member.display_name or member.user_ref if only_to is None else None,  # public: say whose
        )
        await self._chat.reply(thread_of(channel, post), msg, only_to=only_to)
