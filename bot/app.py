"""Composition root: builds every service from Settings and wires them together.

Nothing is global: a RepBot instance owns its engine, services and background tasks, so tests
and benchmarks can run several side by side.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.backfill import open_question_threads
from bot.clock import Clock, SystemClock
from bot.commands import Commands, CommandServices, Reply
from bot.config import Settings
from bot.daily import DailyFlow
from bot.dashboard.command import DashboardCommand, dashboard_base_url
from bot.dashboard.data import DashboardData
from bot.dashboard.links import DashboardLinks
from bot.dashboard.web import DashboardWeb
from bot.events import (
    AnswerDeleted,
    AnswerEdited,
    AnswerPosted,
    ButtonPressed,
    CommandInvoked,
    DirectMessage,
    MessageRef,
    ModalSubmitted,
    Person,
)
from bot.feedback import DeliverySettings, FeedbackNotifier
from bot.grade_admin import GradeAdmin
from bot.grading.offline import OfflineGrader, TermWeights
from bot.grading.queue import GradingQueue
from bot.grading.worker import GradingWorker, WorkerSettings
from bot.health import Check, Health, WatchedGrader, database_check, oldest_due_seconds
from bot.home import HomePage
from bot.http import make_app, serve
from bot.inbox import MAX_FILING_LAG, AnswerInbox, InboxSettings
from bot.intake import RECEIVED_EMOJI, Intake, IntakeResult, IntakeSettings, Outcome
from bot.interview.followups import FollowUpBank
from bot.interview.service import InterviewService, InterviewSettings
from bot.leaderboard import Leaderboard
from bot.messages import Message, text_message
from bot.metrics import Metrics
from bot.outage import OutageLog, Unavailable, is_outage
from bot.ports import Chat, Grader
from bot.recap import WeeklyRecap
from bot.reminders import StreakReminders
from bot.reports import Reports
from bot.schedule import Scheduler
from bot.supervise import Supervisor
from bot.views import ANSWER_PRIVATELY, HINT, SKIP, received_message
from content.loader import QuestionBank, load_bank
from storage.db import ensure_inbox_file, ensure_schema, inbox_url, make_engine, make_sessionmaker, transaction
from storage.models import Post
from storage.repo import first_time_seen

log = logging.getLogger(__name__)

# A due answer waiting longer than this for a grade means grading is not keeping up (or stuck).
QUEUE_STALE_SECONDS = 300.0


def offline_grader_for(bank: QuestionBank) -> OfflineGrader:
    return OfflineGrader(TermWeights.from_documents(q.model_answer for q in bank.all()), thesaurus=bank.thesaurus)


def build_grader(settings: Settings, offline: OfflineGrader) -> Grader:
    """The LLM cross-checked by the offline grader when an LLM is configured, else offline."""
    if not settings.llm_enabled:
        return offline
    from bot.grading.composite import CompositeGrader
    from bot.grading.llm import LLMGrader

    return CompositeGrader(LLMGrader.from_settings(settings), offline)


class RepBot:
    def __init__(
        self,
        settings: Settings,
        chat: Chat,
        *,
        clock: Clock | None = None,
        bank: QuestionBank | None = None,
        grader: Grader | None = None,
        engine: AsyncEngine | None = None,
        channel_quiet_seconds: float | None = None,
    ):
        """`channel_quiet_seconds` overrides the quiet period for channel answers only (the console,
        where an empty line sends a finished answer); DM interviews keep the configured one."""
        self.settings = settings
        self._channel_quiet = settings.quiet_period_seconds if channel_quiet_seconds is None else channel_quiet_seconds
        self.chat = chat
        self.clock = clock or SystemClock()
        self.bank = bank or load_bank(settings.content_dirs)
        self.bank = FollowUpBank.wrap(self.bank)  # also resolves interview follow-up ids for the grading worker
        self.engine = engine or make_engine(settings.database_url)
        self.sessions = make_sessionmaker(self.engine)
        self.metrics = Metrics()
        # One log of database outages for the ack path, the inbox and the grading loop, so an
        # outage is a few lines (bot/outage.py), not a traceback per failed request.
        self.database_outage = OutageLog("database", log)
        self.offline = offline_grader_for(self.bank)
        self.grader = WatchedGrader(grader or build_grader(settings, self.offline), self.clock)
        # Background tasks restart when they die; a Fatal one stops the process (bot/supervise.py).
        self.supervisor = Supervisor(on_restart=lambda task: self.metrics.task_restarts.labels(task).inc())
        self.health = Health()
        self.intake = Intake(
            self.sessions,
            self.clock,
            IntakeSettings(dt.timedelta(seconds=self._channel_quiet), settings.answer_max_chars),
        )
        held_url = inbox_url(settings.database_url) if engine is None else settings.database_url
        # On a SQLite file, held answers get a file of their own (see bot/inbox.py).
        self.inbox_engine = make_engine(held_url) if held_url != settings.database_url else None
        # No write gate on the inbox's own file: its writes are single short statements (an ack's
        # INSERT, a filed chunk's DELETE), and queueing each ack behind the previous one's commit
        # cost the ack path more than SQLite's own lock does (bench.slack_stream: p50 2.7-3.3 ms
        # with the gate, 1.15 ms without, the floor 1.0-1.1 ms, side by side on a busy rig).
        held = make_sessionmaker(self.inbox_engine, write_gate=False) if self.inbox_engine is not None else self.sessions
        self.inbox = AnswerInbox(
            held,
            self.sessions,
            self.clock,
            self.intake,
            self._after_filed,
            InboxSettings(max_defer=min(self._channel_quiet, MAX_FILING_LAG)),
            outage=self.database_outage,
        )
        self.queue = GradingQueue(self.sessions, self.clock, dt.timedelta(seconds=settings.grading_lease_seconds))
        self.notifier = FeedbackNotifier(
            self.sessions,
            chat,
            self.bank,
            self.clock,
            # Undelivered feedback is looked for as often as an idle grader looks for due answers.
            DeliverySettings(poll=max(settings.grading_poll_seconds, 0.05)),
        )
        self.worker = GradingWorker(
            self.queue,
            self.grader,
            self.offline,
            self.bank,
            self.clock,
            self.notifier,
            WorkerSettings(
                # Twice the LLM's parallelism in flight, so storing one grade overlaps the next calls.
                batch=max(8, 2 * settings.llm_concurrency),
                poll=settings.grading_poll_seconds,
                max_delay=dt.timedelta(minutes=settings.grading_max_delay_minutes),
            ),
            metrics=self.metrics,
            outage=self.database_outage,
        )
        self.interviews = InterviewService(
            self.sessions, chat, self.bank, self.clock, InterviewSettings.from_settings(settings), wake=self.worker.wake
        )
        self.notifier.interviews = self.interviews
        self.daily = DailyFlow(self.sessions, chat, self.bank, self.clock, settings, self.metrics)
        self.board = Leaderboard(self.sessions, self.bank)
        self.reports = Reports(self.sessions, self.bank)
        self.recap = WeeklyRecap(self.sessions, chat, self.board, self.reports, self.clock)
        self.daily.on_daily_posted = self.recap.maybe_post  # the day's question asked for before the scheduler posted it
        self.reminders = StreakReminders(self.sessions, chat, self.clock)
        self.scheduler = Scheduler(
            self.sessions,
            self.daily,
            self.clock,
            dt.timedelta(minutes=settings.catch_up_grace_minutes),
            after_post=self.recap.maybe_post,
            sweeps=(self.reminders.send_due, self.interviews.expire_idle),
        )
        self.grades = GradeAdmin(self.sessions, self.queue, self.grader, self.bank, self.clock, self.notifier.graded)
        self.commands = Commands(
            CommandServices(
                daily=self.daily,
                board=self.board,
                reports=self.reports,
                grades=self.grades,
                clock=self.clock,
                sessions=self.sessions,
                on_channel_changed=self.scheduler.sync_channel,
                reviews_due=self.interviews.reviews_due,
                recap=lambda channel, monday: self.recap.build(channel, monday, current=True),
            )
        )
        self.home = HomePage(self.sessions, self.board)
        self.commands.register(self.interviews.command_spec())
        secret = settings.dashboard_secret.get_secret_value() if settings.dashboard_secret else None
        self.dashboard_links = DashboardLinks(self.sessions, self.clock, dt.timedelta(days=settings.dashboard_link_days), secret)
        self.dashboard = DashboardData(self.sessions, self.bank, self.board, self.reports, self.clock)
        self.commands.register(
            DashboardCommand(
                self.dashboard_links, self.daily, dashboard_base_url(settings.public_url, settings.http_port)
            ).command_spec()
        )
        self._stop = asyncio.Event()
        self._http: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._handlers: dict[type, Callable[[Any], Awaitable[Any]]] = {
            AnswerPosted: self.on_answer,
            AnswerEdited: self.on_edit,
            AnswerDeleted: self.on_delete,
            CommandInvoked: self.on_command,
            ButtonPressed: self.on_button,
            ModalSubmitted: self.on_modal,
            DirectMessage: self.on_direct_message,
        }

    # -- lifecycle -------------------------------------------------------------------------

    async def prepare(self) -> str:
        """Check (or upgrade) the schema; run before anything touches the database."""
        status = await ensure_schema(self.engine, self.settings.database_url, auto_migrate=self.settings.auto_migrate)
        if self.inbox_engine is not None:
            await ensure_inbox_file(self.inbox_engine)
        return status

    async def start(self, *, schedule: bool = True, grade_in_background: bool = True) -> None:
        status = await self.prepare()
        log.info("database schema: %s", status)
        await self.notifier.deliver_pending()
        if schedule:
            await self.scheduler.start()
            self.supervisor.spawn("scheduler", self.scheduler.watch)

            async def scheduler() -> Check:
                return self.scheduler.check()

            self.health.add("scheduler", scheduler)
        # Answers accepted but not filed before a stop are filed now, then as they arrive.
        self.supervisor.spawn("answer-inbox", lambda: self.inbox.run_forever(self._stop))
        if grade_in_background:
            self.supervisor.spawn("grading", lambda: self.worker.run_forever(self._stop))
            # Feedback whose send failed (platform or database down) goes out once they are back.
            self.supervisor.spawn("feedback", lambda: self.notifier.run_forever(self._stop))
        self._add_health_checks()
        if self.settings.http_port is not None:
            app = make_app(self.metrics, self.queue.depth, self.inbox.depth, self.health, self.alive)
            DashboardWeb(self.dashboard_links, self.dashboard).add_routes(app)  # the team dashboard, same port
            self._http = await serve(app, self.settings.http_port)

    def _add_health_checks(self) -> None:
        async def database() -> Check:
            return await database_check(self.engine)

        async def grading_queue() -> Check:
            waited = await oldest_due_seconds(self.sessions, self.clock)
            self.metrics.grading_oldest_due.set(waited)
            stale = max(QUEUE_STALE_SECONDS, 2.0 * self.settings.grading_lease_seconds)
            return Check(waited <= stale, f"oldest due answer waiting {waited:.0f} s (limit {stale:.0f} s)")

        async def grader() -> Check:
            return self.grader.check()

        async def feedback() -> Check:
            graded = await self.notifier.oldest_pending()
            if graded is None:
                return Check(True, "nothing waiting")
            graded = graded if graded.tzinfo else graded.replace(tzinfo=dt.UTC)
            waited = max(0.0, (self.clock.now() - graded).total_seconds())
            # Retries back off to every 5 minutes: longer than that undelivered means it keeps failing.
            return Check(waited <= QUEUE_STALE_SECONDS, f"oldest undelivered feedback waiting {waited:.0f} s")

        async def tasks() -> Check:
            down = self.supervisor.problems()
            return Check(not down, "; ".join(f"{n} restarting after {why}" for n, why in down.items()) or "running")

        self.health.add("database", database, readiness=True)
        self.health.add("grading_queue", grading_queue)
        self.health.add("grader", grader)
        self.health.add("feedback", feedback)
        self.health.add("background_tasks", tasks)

    def alive(self) -> bool:
        """False once a Fatal failure asked the process to stop (/livez)."""
        return self.supervisor.fatal is None

    async def healthy(self) -> bool:
        """Every health check passes (what /healthz answers 200 for)."""
        return (await self.health.report()).ok

    async def stop(self) -> None:
        self.supervisor.shutting_down()  # the tasks below end because of the stop event: not a crash
        self._stop.set()
        self.scheduler.stop()
        if self._http is not None:
            await self._http.cleanup()
            self._http = None
        await self.supervisor.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.engine.dispose()
        if self.inbox_engine is not None:
            await self.inbox_engine.dispose()

    # -- inbound events ----------------------------------------------------------------------

    async def handle(self, event: object) -> Any:
        handler = self._handlers.get(type(event))
        if handler is None:
            raise TypeError(f"no handler for {type(event).__name__}")
        return await handler(event)

    async def on_answer(self, event: AnswerPosted) -> IntakeResult:
        """File an answer now and acknowledge it (adapters without an ack deadline)."""
        result = await self.intake.answer_posted(event)
        await self._after_filed(event, result)
        return result

    async def receive_answer(self, event: AnswerPosted) -> bool:
        """Hold an answer durably with one INSERT and file it in the background (bot/inbox.py).

        For adapters that must acknowledge fast (Slack): once this returns, the answer survives
        a crash. False when the same message is already held (a redelivery).
        """
        try:
            fresh = await self.inbox.accept(event)
        except Exception as exc:
            if not is_outage(exc):
                raise
            # Not held, so the platform must not get its ack and will redeliver; counted, not
            # logged per request.
            self.database_outage.failed("holding answers", exc)
            raise Unavailable("database") from exc
        self.database_outage.ok()
        if not fresh:
            self.metrics.answers_duplicate.inc()
        return fresh

    async def _after_filed(self, event: AnswerPosted, result: IntakeResult) -> None:
        if result.outcome is Outcome.DUPLICATE:
            self.metrics.answers_duplicate.inc()
        if result.outcome is Outcome.STORED:
            self.metrics.answers_received.inc()
            if self._channel_quiet == 0:
                self.worker.wake()  # due now; otherwise the worker's poll finds it after the quiet period
            await self._acknowledge(event, result)

    async def _acknowledge(self, event: AnswerPosted, result: IntakeResult) -> None:
        try:
            if not event.private:
                await self.chat.react(event.message, RECEIVED_EMOJI)
            note = received_message(result.truncated_from, self.settings.answer_max_chars)
            if note is not None:
                await self.chat.reply(event.message.root, note, only_to=event.person)
        except Exception:  # the answer is stored; a failed reaction must not look like a failure
            log.warning("could not acknowledge answer %s", result.answer_id, exc_info=True)

    async def on_edit(self, event: AnswerEdited) -> IntakeResult:
        await self.inbox.settle(event.source_id)  # the edited message may not be filed yet
        result = await self.intake.answer_edited(event)
        if result.outcome is Outcome.UPDATED:
            self.worker.wake()
        return result

    async def on_delete(self, event: AnswerDeleted) -> IntakeResult:
        await self.inbox.settle(event.source_id)
        result = await self.intake.answer_deleted(event)
        if result.outcome is Outcome.UPDATED:
            self.worker.wake()
        return result

    async def on_command(self, event: CommandInvoked) -> Reply:
        return await self.commands.dispatch(event)

    async def on_button(self, event: ButtonPressed) -> Reply | None:
        post = await self._post(event.value)
        if post is None:
            return Reply(text_message("That question is no longer available."))
        question = self.bank.get(post.question_id)
        if event.action == HINT and question is not None:
            hint = question.hints[0] if question.hints else "Think about what could go wrong and how you would notice."
            return Reply(text_message(f"Hint: {hint}"))
        if event.action == SKIP:
            return Reply(text_message("Skipped. No answer today costs no points; see you at the next question."))
        if event.action == ANSWER_PRIVATELY:
            return None  # adapters open their platform's answer box, then send ModalSubmitted
        return Reply(text_message("Unknown button."))

    async def on_modal(self, event: ModalSubmitted) -> IntakeResult:
        post = await self._post(event.value)
        if post is None or post.thread_ref is None:
            return IntakeResult(Outcome.NOT_AN_ANSWER)
        ref = MessageRef(event.place, event.source_id, post.thread_ref)
        return await self.on_answer(AnswerPosted(event.person, event.text, event.source_id, ref, private=True))

    async def on_direct_message(self, event: DirectMessage) -> Reply | None:
        """Interview DMs are answered by DM (None); anything else gets a Reply."""
        return await self.interviews.direct_message(event)

    async def open_question_threads(self, platform: str) -> list[MessageRef]:
        """Threads to read for answers missed while `platform`'s connection was down (bot/backfill.py)."""
        return await open_question_threads(self.sessions, platform)

    async def first_time_seen(self, key: str) -> bool:
        """Record a platform event id (Slack event_id, Discord interaction id); False on a replay."""
        try:
            async with transaction(self.sessions) as session:
                return await first_time_seen(session, key, self.clock.now())
        except Exception as exc:
            if not is_outage(exc):
                raise
            self.database_outage.failed("recording event ids", exc)
            raise Unavailable("database") from exc

    async def home_view(self, person: Person) -> Message:
        """A person's page (Slack App Home): stats and leaderboards of their channels."""
        return await self.home.view(person)

    async def _post(self, value: str) -> Post | None:
        if not value.isdigit():
            return None
        async with self.sessions() as session:
            return await session.get(Post, int(value))
