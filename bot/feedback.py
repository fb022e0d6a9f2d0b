"""Delivering grades to the people who answered: private by default, public per channel.

At least once, never lost: `notify_pending` stays true until the platform took the message and
that is recorded. Sending is claimed with a lease first (`notify_token`, `notify_after`), so two
replicas (or the worker and the retry loop) do not both send it; a failed send sets a retry time
with backoff; a claim whose holder died mid-send, or whose database connection dropped, simply
expires. The retry loop (`run_forever`) sends whatever is due while the bot runs.

The key that stops a double: a send that reached the platform but could not be recorded (the
database went away in between) is remembered in-process by (answer, grade), and the retry records
it without sending again. Only a crash in that window can repeat a message.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
from dataclasses import dataclass

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.events import MessageRef, Person, Place
from bot.grading.model import CriterionResult, Flag, Grade, Verdict
from bot.grading.worker import GradeListener
from bot.outage import OutageLog
from bot.ports import Chat
from bot.views import feedback_message, grading_delayed_message
from content.loader import QuestionBank
from storage.db import transaction
from storage.models import Answer, Channel, GradeRow, Member, Post

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    poll: float = 5.0  # seconds between looks for feedback due (again)
    first_retry: dt.timedelta = dt.timedelta(seconds=5)  # after the first failed send; doubles each time
    max_backoff: dt.timedelta = dt.timedelta(minutes=5)
    lease: dt.timedelta = dt.timedelta(minutes=2)  # a claim whose sender died is taken over after this
    batch: int = 50  # due answers looked at per round
    parallel: int = 8  # sends in flight at once

    def backoff(self, attempts: int) -> dt.timedelta:
        return min(self.max_backoff, self.first_retry * 2 ** min(max(attempts - 1, 0), 16))


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
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        chat: Chat,
        bank: QuestionBank,
        clock: Clock,
        settings: DeliverySettings | None = None,
        outage: OutageLog | None = None,
    ):
        self._sessions = sessions
        self._chat = chat
        self._bank = bank
        self._clock = clock
        self._settings = settings or DeliverySettings()
        self.outage = outage or OutageLog("feedback delivery", log)
        self.interviews: GradeListener | None = None  # set when the interview service exists
        self._in_flight: set[int] = set()  # answers this process is delivering right now
        # Sent to the platform but not recorded yet: answer id -> (grade row id, claim token).
        self._unrecorded: dict[int, tuple[int, str]] = {}
        self._wake = asyncio.Event()

    # -- the GradeListener port (called by the grading worker and grade corrections) -------------------

    async def graded(self, answer_id: int) -> None:
        """Deliver the answer's current grade; never raises: what fails stays pending and is retried."""
        try:
            await self._deliver(answer_id)
        except Exception as exc:  # noqa: BLE001 - reported once per interval; the retry loop sends it
            self.outage.failed("sending feedback", exc)
            self._wake.set()

    async def delayed(self, answer_id: int) -> None:
        try:
            async with self._sessions() as session:
                answer = await self._post_answer(session, answer_id, delayed=True)
                if answer is None:
                    return
                post, channel, member = await self._context(session, answer)
            await self._chat.reply(thread_of(channel, post), grading_delayed_message(), only_to=person_of(member))
        except Exception as exc:  # noqa: BLE001 - a courtesy note; the grade itself will still be sent
            self.outage.failed("sending a grading-delayed note", exc)

    # -- retrying ----------------------------------------------------------------------------------

    async def deliver_pending(self) -> int:
        """Send feedback that is due (never sent, failed earlier, or its sender died); returns how many were due."""
        await self._record_unrecorded()
        now = self._clock.now()
        async with self._sessions() as session:
            ids = (
                (
                    await session.execute(
                        select(Answer.id)
                        .where(
                            Answer.notify_pending.is_(True),
                            Answer.status == "graded",
                            or_(Answer.notify_after.is_(None), Answer.notify_after <= now),
                        )
                        .order_by(Answer.notify_after, Answer.id)
                        .limit(self._settings.batch)
                    )
                )
                .scalars()
                .all()
            )
        due = [i for i in ids if i not in self._in_flight]
        gate = asyncio.Semaphore(self._settings.parallel)

        async def one(answer_id: int) -> None:
            async with gate:
                await self.graded(answer_id)

        await asyncio.gather(*(one(i) for i in due))
        return len(due)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Retry undelivered feedback while the bot runs, every `poll` seconds (sooner after a failure)."""
        while not stop.is_set():
            try:
                due = await self.deliver_pending()
            except Exception as exc:  # noqa: BLE001 - the database is down; try again next round
                self.outage.failed("looking for feedback to send", exc)
                due = 0
            if due >= self._settings.batch:
                continue
            self._wake.clear()
            try:
                async with asyncio.timeout(self._settings.poll):
                    await stop.wait()
            except TimeoutError:
                pass

    async def oldest_pending(self) -> dt.datetime | None:
        """When the longest-waiting undelivered feedback was graded (None: nothing waits). For /healthz."""
        async with self._sessions() as session:
            return (
                await session.execute(
                    select(func.min(Answer.updated_at)).where(Answer.notify_pending.is_(True), Answer.status == "graded")
                )
            ).scalar_one_or_none()

    # -- one delivery ---------------------------------------------------------------------------

    async def _deliver(self, answer_id: int) -> None:
        if answer_id in self._in_flight:
            return  # the other call in this process sends it
        self._in_flight.add(answer_id)
        try:
            async with self._sessions() as session:
                answer = await self._post_answer(session, answer_id, delayed=False)
            if answer is None:
                return
            token = await self._claim(answer_id)
            if token is None:
                return
            try:
                grade_id = await self._send_once(answer, token)
            except Exception:
                await self._release(answer_id, token, answer.notify_attempts + 1)
                raise
            await self._record(answer_id, grade_id, token)
            self.outage.ok()
        finally:
            self._in_flight.discard(answer_id)

    async def _post_answer(self, session: AsyncSession, answer_id: int, delayed: bool) -> Answer | None:
        """The answer when it belongs to a channel post; interview answers go to the interview service."""
        answer = await session.get(Answer, answer_id)
        if answer is None or answer.interview_id is None:
            return answer
        if self.interviews is not None:
            await (self.interviews.delayed if delayed else self.interviews.graded)(answer_id)
        return None

    async def _claim(self, answer_id: int) -> str | None:
        """Take the delivery for a lease; None when it is not due or someone else has it."""
        now = self._clock.now()
        token = secrets.token_hex(8)
        async with transaction(self._sessions) as session:
            result = await session.execute(
                # Only a graded answer: one edited since its grade is pending again, and its next grade
                # is the one to send (sending the old one now would send feedback twice).
                update(Answer)
                .where(
                    Answer.id == answer_id,
                    Answer.notify_pending.is_(True),
                    Answer.status == "graded",
                    or_(Answer.notify_after.is_(None), Answer.notify_after <= now),
                )
                .values(notify_token=token, notify_after=now + self._settings.lease)
            )
        return token if result.rowcount == 1 else None  # type: ignore[attr-defined]

    async def _send_once(self, answer: Answer, token: str) -> int | None:
        """Send the current grade unless this process already did; returns that grade's row id."""
        async with self._sessions() as session:
            row = (
                await session.execute(select(GradeRow).where(GradeRow.answer_id == answer.id, GradeRow.current.is_(True)))
            ).scalar_one_or_none()
            question = self._bank.get(answer.question_id)
            if row is None or question is None:
                return None  # nothing that can be sent: recorded as done
            sent = self._unrecorded.get(answer.id)
            if sent is not None and sent[0] == row.id:
                return row.id  # it reached the platform; only the record is missing
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
        self._unrecorded[answer.id] = (row.id, token)
        return row.id

    async def _record(self, answer_id: int, grade_id: int | None, token: str) -> None:
        """Mark it delivered, if what was sent is still the current grade; else free the claim at once."""
        still_current = exists().where(GradeRow.id == grade_id, GradeRow.current.is_(True)) if grade_id is not None else True
        async with transaction(self._sessions) as session:
            done = await session.execute(
                update(Answer)
                .where(Answer.id == answer_id, Answer.notify_pending.is_(True), Answer.status == "graded", still_current)
                .values(notify_pending=False, notify_token=None, notify_after=None, notify_attempts=0)
            )
            if done.rowcount != 1:  # type: ignore[attr-defined]
                # Regraded or edited while we sent: the newer grade is due now, not after our lease.
                await session.execute(
                    update(Answer)
                    .where(Answer.id == answer_id, Answer.notify_token == token)
                    .values(notify_token=None, notify_after=None)
                )
        self._unrecorded.pop(answer_id, None)

    async def _record_unrecorded(self) -> None:
        for answer_id, (grade_id, token) in list(self._unrecorded.items()):
            try:
                await self._record(answer_id, grade_id, token)
            except Exception as exc:  # noqa: BLE001 - kept for the next round; nothing is sent twice
                self.outage.failed("recording delivered feedback", exc)

    async def _release(self, answer_id: int, token: str, attempts: int) -> None:
        """After a failed send: try again after a backoff. If this fails too, the lease expires instead."""
        try:
            async with transaction(self._sessions) as session:
                await session.execute(
                    update(Answer)
                    .where(Answer.id == answer_id, Answer.notify_token == token)
                    .values(
                        notify_token=None,
                        notify_after=self._clock.now() + self._settings.backoff(attempts),
                        notify_attempts=attempts,
                    )
                )
        except Exception as exc:  # noqa: BLE001 - the lease still ends the claim
            self.outage.failed("setting a feedback retry time", exc)

    async def _context(self, session: AsyncSession, answer: Answer) -> tuple[Post, Channel, Member]:
        post = await session.get(Post, answer.post_id)
        member = await session.get(Member, answer.member_id)
        assert post is not None and member is not None
        channel = await session.get(Channel, post.channel_id)
        assert channel is not None
        return post, channel, member
