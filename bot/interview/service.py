"""The interview service: DM and command handling, grade callbacks, idle expiry.

Each operation loads the interview row (locked), applies a pure transition of the state
machine (state.py), stores the new state in the same transaction, and only then sends the
resulting messages, always by DM. Answers go through the ordinary durable grading queue (an
answers row with interview_id set and context "interview:<id>:<turn>"), so nothing here waits
for a grader; the GradingWorker's listener calls `graded(answer_id)` to move the interview on.

If the process dies after a commit but before a message was sent, the state is still right and
`repeat` (or `resume`) shows the current question again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.commands import Command, Reply
from bot.config import Settings
from bot.events import CommandInvoked, DirectMessage, Person
from bot.feedback import person_of
from bot.grading.model import Verdict
from bot.interview import store
from bot.interview.followups import follow_up_question_id, plan_follow_ups
from bot.interview.request import Kind, Request, parse_request, usage
from bot.interview.scorecard import build_scorecard, minutes_taken
from bot.interview.selection import choose_questions
from bot.interview.state import EndReason, InterviewState, Prompt, Slot, Step
from bot.interview.views import (
    already_active,
    follow_up_message,
    follow_up_note,
    graded_note,
    intro_message,
    note,
    question_message,
    scorecard_message,
)
from bot.messages import Message, text_message
from bot.ports import Chat
from bot.views import plural
from content.loader import QuestionBank
from storage.db import transaction
from storage.models import Answer, AnswerMessage, GradeRow, Interview, Member
from storage.repo import first_time_seen, get_or_create_member

log = logging.getLogger(__name__)

SESSION_COMMANDS = ("done", "hint", "skip", "repeat", "pause", "resume", "end")
NOT_IN_INTERVIEW = (
    "Hi! Daily questions are answered in your team channel's thread. "
    "Say `interview` here for a private mock interview (e.g. `interview pipeline-design senior 3`), "
    "or type `help` in a channel for commands."
)


@dataclass(frozen=True, slots=True)
class InterviewSettings:
    quiet_period: dt.timedelta
    idle: dt.timedelta
    max_chars: int
    default_count: int = 5
    max_count: int = 10
    recent: dt.timedelta = dt.timedelta(days=30)  # questions seen within this are avoided

    @classmethod
    def from_settings(cls, settings: Settings) -> InterviewSettings:
        return cls(
            quiet_period=dt.timedelta(seconds=settings.quiet_period_seconds),
            idle=dt.timedelta(hours=settings.interview_idle_hours),
            max_chars=settings.answer_max_chars,
        )


@dataclass(slots=True)
class Outbox:
    """Messages for one person, sent after the transaction commits."""

    person: Person | None = None
    messages: list[Message] = field(default_factory=list)
    wake: bool = False  # an answer became due now: wake the grading worker

    def add(self, *messages: Message) -> None:
        self.messages.extend(messages)


def split_command(text: str) -> tuple[str | None, str]:
    """(in-session command, answer text). A last line saying `done` ends a multi-line answer."""
    word = text.strip().strip(".!").lower().lstrip("/")
    if word in SESSION_COMMANDS:
        return word, ""
    lines = text.rstrip().splitlines()
    if len(lines) > 1 and lines[-1].strip().strip(".!").lower() == "done":
        return "done", "\n".join(lines[:-1]).strip()
    return None, text.strip()


class InterviewService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        chat: Chat,
        bank: QuestionBank,
        clock: Clock,
        settings: InterviewSettings,
        wake: Callable[[], None] = lambda: None,
    ):
        self._sessions = sessions
        self._chat = chat
        self._bank = bank
        self._clock = clock
        self._settings = settings
        self._wake = wake
        # Serialises this process's interview transitions (a DM racing its own grade callback);
        # the row lock does the same across replicas on PostgreSQL.
        self._lock = asyncio.Lock()

    @property
    def quiet_period(self) -> dt.timedelta:
        """How long an answer waits for more messages before it is graded (without `done`)."""
        return self._settings.quiet_period

    def command_spec(self) -> Command:
        return Command(
            "interview",
            "interview [format] [difficulty] [n] | interview review",
            "a private mock interview in your DMs",
            self.command,
        )

    # -- entry points ------------------------------------------------------------------------

    async def command(self, event: CommandInvoked) -> Reply:
        """`interview ...` from any channel or the console: the interview itself runs by DM."""
        request = parse_request(event.args, default=self._settings.default_count, maximum=self._settings.max_count)
        if isinstance(request, str):
            return Reply(text_message(request))
        if request.kind is Kind.HELP:
            return Reply(text_message(usage(self._settings.default_count, self._settings.max_count)))
        if request.kind is Kind.TEAM:
            return await self._team(event)
        out = Outbox(event.person)
        async with self._lock:
            async with transaction(self._sessions) as session:
                member = await self._member(session, event.person)
                started = await self._start(session, member, request, out)
            if started:
                await self._send(out)
        if not started:  # say why right where they asked; nothing was sent by DM
            return Reply(out.messages[0] if out.messages else text_message("Could not start an interview."))
        if event.place.is_dm:
            return Reply(text_message("Interview started."))
        return Reply(text_message("Check your DMs: your mock interview has started there."))

    async def direct_message(self, event: DirectMessage) -> Reply | None:
        """A DM from the person: starts an interview or feeds the active one. None = answered by DM."""
        now = self._clock.now()
        out = Outbox(event.person)
        async with self._lock:
            async with transaction(self._sessions) as session:
                if not await first_time_seen(session, f"interview-dm:{event.person.platform}:{event.source_id}"[:200], now):
                    return None  # a redelivered message
                member = await self._member(session, event.person)
                interview = await store.open_interview(session, member.id)
                if interview is None and (found := await store.open_interview_of(session, event.person)) is not None:
                    interview, member = found
                if interview is None:
                    words = event.text.split()
                    if not words or words[0].lower().lstrip("/") != "interview":
                        return Reply(text_message(NOT_IN_INTERVIEW))
                    request = parse_request(words[1:], default=self._settings.default_count, maximum=self._settings.max_count)
                    if isinstance(request, str):
                        out.add(note(request, "error"))
                    elif request.kind in (Kind.HELP, Kind.TEAM):
                        out.add(note(usage(self._settings.default_count, self._settings.max_count), "help"))
                    else:
                        await self._start(session, member, request, out)
                else:
                    await self._in_session(session, interview, member, event, out, now)
            await self._send(out)
        if out.wake:
            self._wake()
        return None

    async def graded(self, answer_id: int) -> None:
        """The grading worker stored a grade for an interview answer: move the interview on."""
        now = self._clock.now()
        out = Outbox()
        async with self._lock:
            async with transaction(self._sessions) as session:
                claimed = await session.execute(
                    update(Answer)
                    .where(Answer.id == answer_id, Answer.notify_pending.is_(True), Answer.status == "graded")
                    .values(notify_pending=False)
                )
                if claimed.rowcount != 1:  # type: ignore[attr-defined]
                    return  # already handled (another replica, a replay) or changed since
                answer = await session.get(Answer, answer_id)
                if answer is None or answer.interview_id is None:
                    return
                interview = await store.locked_interview(session, answer.interview_id)
                if interview is None or interview.status == "finished":
                    return
                row = (
                    await session.execute(select(GradeRow).where(GradeRow.answer_id == answer_id, GradeRow.current.is_(True)))
                ).scalar_one_or_none()
                member = await session.get(Member, interview.member_id)
                if row is None or member is None:
                    return
                out.person = person_of(member)
                state = InterviewState.from_json(interview.state)
                step = self._apply_grade(state, answer_id, row, out, now)
                if step is None:
                    return  # not the answer the interview waits for (e.g. skipped meanwhile)
                await self._show(session, interview, member, state, step, out, now, hold=state.paused)
                self._save(interview, state, now)
            await self._send(out)

    async def delayed(self, answer_id: int) -> None:
        async with self._sessions() as session:
            answer = await session.get(Answer, answer_id)
            member = await session.get(Member, answer.member_id) if answer is not None else None
        if member is None:
            return
        out = Outbox(person_of(member))
        out.add(
            note(
                "Grading is delayed because the grader is unavailable. Your answer is saved; I'll continue as soon as it is graded.",
                "delayed",
            )
        )
        async with self._lock:
            await self._send(out)

    async def expire_idle(self) -> int:
        """End interviews idle longer than the limit, each with a partial scorecard (scheduler sweep)."""
        now = self._clock.now()
        cutoff = now - self._settings.idle
        async with self._sessions() as session:
            ids = (
                (
                    await session.execute(
                        select(Interview.id).where(Interview.status.in_(store.OPEN), Interview.updated_at < cutoff)
                    )
                )
                .scalars()
                .all()
            )
        ended = 0
        for interview_id in ids:
            out = Outbox()
            async with self._lock:
                async with transaction(self._sessions) as session:
                    interview = await store.locked_interview(session, interview_id)
                    if interview is None or interview.status not in store.OPEN or interview.updated_at >= cutoff:
                        continue
                    member = await session.get(Member, interview.member_id)
                    if member is None:
                        continue
                    out.person = person_of(member)
                    state = InterviewState.from_json(interview.state)
                    step = state.finish(EndReason.IDLE)
                    await self._show(session, interview, member, state, step, out, now)
                    self._save(interview, state, now)
                    ended += 1
                await self._send(out)
        return ended

    async def reviews_due(self, person: Person) -> int:
        """How many of the person's review questions are due now (for `stats`)."""
        async with self._sessions() as session:
            member = await store.find_member(session, person)
            return 0 if member is None else await store.reviews_due(session, member.id, self._clock.now())

    async def in_interview(self, person: Person) -> bool:
        async with self._sessions() as session:
            return await store.open_interview_of(session, person, lock=False) is not None

    # -- flows ---------------------------------------------------------------------------------

    async def _start(self, session: AsyncSession, member: Member, request: Request, out: Outbox) -> bool:
        now = self._clock.now()
        existing = await store.open_interview(session, member.id)
        if existing is not None:
            out.add(already_active(InterviewState.from_json(existing.state)))
            return False
        first: list[str] = []
        preface = None
        count = request.count
        if request.kind is Kind.REVIEW:
            due, later = await store.review_queue(session, member.id, now)
            first = due + later
            if not first:
                preface = "Your review queue is empty (questions you score below 6 go there), so this is a regular interview."
            elif count is None:
                count = min(self._settings.default_count, max(len(due), 1))
        recent = await store.seen_since(session, member.id, now - self._settings.recent)
        questions = choose_questions(
            self._bank.all(),
            fmt=request.format,
            difficulty=request.difficulty,
            count=count or self._settings.default_count,
            recent=recent,
            first=first,
            seed=zlib.crc32(f"{member.id}:{now.isoformat()}".encode()),
        )
        if not questions:
            wanted = " ".join(w for w in (request.format, request.difficulty) if w)
            out.add(
                note(f"No questions match '{wanted}'. " + usage(self._settings.default_count, self._settings.max_count), "error")
            )
            return False
        review_ids = set(first)
        slots = [Slot(q.id, q.version, q.title, q.category.value, from_review=q.id in review_ids) for q in questions]
        state = InterviewState(request.format, request.difficulty, slots, review=request.kind is Kind.REVIEW)
        step = state.begin(now)
        interview = Interview(
            member_id=member.id, format=request.format, status="active", state={}, started_at=now, updated_at=now
        )
        try:
            async with session.begin_nested():
                session.add(interview)
        except IntegrityError:  # another replica started one for this person a moment ago
            out.add(note("You already have an interview in progress. Continue it in our DM.", "active"))
            return False
        out.add(intro_message(state, preface=preface))
        await self._show(session, interview, member, state, step, out, now)
        self._save(interview, state, now)
        return True

    async def _in_session(
        self, session: AsyncSession, interview: Interview, member: Member, event: DirectMessage, out: Outbox, now: dt.datetime
    ) -> None:
        state = InterviewState.from_json(interview.state)
        command, text = split_command(event.text)
        if command is None and text.lower().split()[:1] == ["interview"]:
            out.add(already_active(state))
        elif state.paused and command not in ("resume", "end"):
            out.add(note("The interview is paused. Say `resume` to continue or `end` to finish with a scorecard.", "paused"))
        elif command is None or command == "done":
            if text:
                await self._take_answer(session, interview, member, state, text, event.source_id, out, now)
            if command == "done":
                await self._submit(session, state, out, now)
        elif command == "hint":
            slot = state.current
            question = self._bank.get(slot.question_id) if slot else None
            hint = state.take_hint(list(question.hints) if question else [])
            if hint is not None:
                out.add(note(f"Hint: {hint}", "hint"))
            elif state.current_follow_up is not None:
                out.add(note("No hints for a follow-up: say what you can, or `skip` it.", "hint"))
            else:
                more = "more " if slot is not None and slot.hints_used else ""
                out.add(
                    note(f"No {more}hints for this question. Think about what could go wrong and how you would notice.", "hint")
                )
        elif command == "skip":
            step = state.skip(now)
            await self._discard(session, step, now)
            out.add(note("Skipped.", "skipped"))
            await self._show(session, interview, member, state, step, out, now)
        elif command == "repeat":
            await self._show(session, interview, member, state, Step(state.prompt()), out, now)
        elif command == "pause":
            state.pause()
            out.add(
                note(
                    f"Paused. Say `resume` when you are back (within {self._idle_text()}, or it ends with a partial scorecard).",
                    "paused",
                )
            )
        elif command == "resume":
            step = state.resume()
            out.add(note("Welcome back.", "resumed"))
            await self._show(session, interview, member, state, step, out, now)
        elif command == "end":
            step = state.finish(EndReason.ENDED)
            await self._discard(session, step, now)
            await self._show(session, interview, member, state, step, out, now)
        self._save(interview, state, now)

    async def _take_answer(
        self,
        session: AsyncSession,
        interview: Interview,
        member: Member,
        state: InterviewState,
        text: str,
        source_id: str,
        out: Outbox,
        now: dt.datetime,
    ) -> None:
        """Merge a message into the current answer (opening one on the first message)."""
        limit = self._settings.max_chars
        answer_id = state.awaiting_answer_id()
        answer = await session.get(Answer, answer_id, with_for_update=True) if answer_id is not None else None
        if answer is None or answer.status in ("closed", "deleted"):
            question_id, version = self._target(state)
            answer = Answer(
                context=f"interview:{interview.id}:{state.open_turn()}",
                post_id=None,
                interview_id=interview.id,
                member_id=member.id,
                question_id=question_id,
                question_version=version,
                text=text[:limit],
                truncated=len(text) > limit,
                revision=1,
                status="pending",
                available_at=now + self._settings.quiet_period,
                late=False,
                private=True,
                received_at=now,
                updated_at=now,
            )
            session.add(answer)
            await session.flush()
            state.attach(answer.id)
            if self._settings.quiet_period > dt.timedelta(0):
                out.add(
                    note(
                        f"Got it. Add more if you like, then say `done` (or I'll take it as finished after {self._quiet_text()} of quiet).",
                        "received",
                    )
                )
        else:
            merged = f"{answer.text}\n{text}"
            answer.text = merged[:limit]
            answer.truncated = answer.truncated or len(merged) > limit
            # Same as channel answers: a new revision re-queues it whole after the quiet period.
            answer.revision += 1
            answer.status = "pending"
            answer.lease_token = None
            answer.lease_until = None
            answer.notify_pending = False
            answer.available_at = now + self._settings.quiet_period
            answer.updated_at = now
        session.add(AnswerMessage(source_id=source_id, answer_id=answer.id, text=text[:limit], received_at=now))
        state.answered(now)
        if self._settings.quiet_period <= dt.timedelta(0):
            out.wake = True

    async def _submit(self, session: AsyncSession, state: InterviewState, out: Outbox, now: dt.datetime) -> None:
        """`done`: grade the current answer now instead of after the quiet period."""
        answer_id = state.awaiting_answer_id()
        answer = await session.get(Answer, answer_id, with_for_update=True) if answer_id is not None else None
        if answer is None or answer.status in ("closed", "deleted"):
            out.add(note("Nothing to grade yet: write your answer first (or `skip`).", "empty"))
            return
        if answer.status == "pending":
            answer.available_at = now
        out.wake = True

    def _apply_grade(self, state: InterviewState, answer_id: int, row: GradeRow, out: Outbox, now: dt.datetime) -> Step | None:
        verdicts = {c["criterion_id"]: c["verdict"] for c in row.criteria}
        slot = state.current
        if slot is None:
            return None
        number = state.index + 1
        follow_up = state.current_follow_up
        if follow_up is None:
            question = self._bank.get(slot.question_id)
            planned = plan_follow_ups(question, verdicts) if question is not None else []
            step = state.main_graded(answer_id, row.score, verdicts, planned, now)
            if step is not None:
                minutes = minutes_taken(slot)
                limit = question.time_limit_minutes if question else None
                out.add(graded_note(number, row.score, minutes, limit, follow_up_coming=step.prompt is Prompt.FOLLOW_UP))
            return step
        verdict = Verdict(verdicts.get(follow_up.criterion, Verdict.MISSED.value))
        step = state.follow_up_graded(answer_id, verdict, now)
        if step is not None:
            out.add(follow_up_note(number, follow_up.recovered, slot.score))
        return step

    async def _show(
        self,
        session: AsyncSession,
        interview: Interview,
        member: Member,
        state: InterviewState,
        step: Step,
        out: Outbox,
        now: dt.datetime,
        *,
        hold: bool = False,
    ) -> None:
        """Render what a step asks for; while paused, questions wait for `resume`."""
        if step.prompt is Prompt.SCORECARD:
            await self._finish(session, interview, member, state, out, now)
        elif hold:
            out.add(note("Graded. The interview is paused: say `resume` for the next step.", "paused"))
        elif step.prompt is Prompt.QUESTION and state.current is not None:
            question = self._bank.get(state.current.question_id)
            if question is None:  # removed from the bank since the interview began
                out.add(note(f"“{state.current.title}” is no longer in the question bank; skipping it.", "skipped"))
                await self._show(session, interview, member, state, state.skip(now), out, now)
                return
            out.add(question_message(state, state.current, question))
        elif step.prompt is Prompt.FOLLOW_UP and state.current_follow_up is not None:
            out.add(follow_up_message(state, state.current_follow_up))

    async def _finish(
        self, session: AsyncSession, interview: Interview, member: Member, state: InterviewState, out: Outbox, now: dt.datetime
    ) -> None:
        scored = [(s.question_id, s.score) for s in state.slots if s.counted and s.score is not None]
        await store.apply_reviews(session, member.id, scored, now)
        await session.flush()
        card = build_scorecard(state, self._bank, await store.earlier_averages(session, member.id, interview.id))
        state.summary = {"average": card.average, "categories": dict(card.categories), "counted": len(scored)}
        due = await store.reviews_due(session, member.id, now)
        out.add(scorecard_message(card, due, await store.next_review(session, member.id)))

    async def _discard(self, session: AsyncSession, step: Step, now: dt.datetime) -> None:
        if step.discard_answer is None:
            return
        answer = await session.get(Answer, step.discard_answer, with_for_update=True)
        if answer is not None:
            store.close_answer(answer, now)

    async def _team(self, event: CommandInvoked) -> Reply:
        if not event.is_admin:
            return Reply(text_message("Interview counts are for RepBot admins. Your own interviews are in your DMs."))
        async with self._sessions() as session:
            counts = await store.workspace_counts(session, event.person.platform, event.person.workspace)
        # Managers see counts only: never names, answers or scores.
        return Reply(
            text_message(
                f"Mock interviews in this workspace: {counts.active} in progress, {counts.finished} finished, "
                f"{plural(counts.answers, 'answer')} graded.",
                tags=("interview", "interview-team"),
            )
        )

    # -- helpers ---------------------------------------------------------------------------------

    def _target(self, state: InterviewState) -> tuple[str, str]:
        """(question id, version) the current answer is graded against."""
        slot = state.current
        assert slot is not None
        follow_up = state.current_follow_up
        if follow_up is None:
            return slot.question_id, slot.version
        question_id = follow_up_question_id(slot.question_id, follow_up.criterion)
        derived = self._bank.get(question_id)
        return question_id, derived.version if derived is not None else slot.version

    async def _member(self, session: AsyncSession, person: Person) -> Member:
        return await get_or_create_member(session, person.platform, person.workspace, person.user_id, person.display_name)

    def _save(self, interview: Interview, state: InterviewState, now: dt.datetime) -> None:
        interview.state = state.to_json()  # a new object, so the JSON column sees the change
        interview.status = "finished" if state.finished else "paused" if state.paused else "active"
        interview.updated_at = now

    async def _send(self, out: Outbox) -> None:
        if out.person is None:
            return
        for msg in out.messages:
            try:
                await self._chat.dm(out.person, msg)
            except Exception:  # the state is committed; `repeat` shows the current step again
                log.warning("interview message to %s not delivered", out.person.user_id, exc_info=True)

    def _quiet_text(self) -> str:
        seconds = int(self._settings.quiet_period.total_seconds())
        return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min"

    def _idle_text(self) -> str:
        hours = self._settings.idle.total_seconds() / 3600
        return f"{hours:g} h"
