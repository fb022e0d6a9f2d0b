"""Platform-neutral commands. Each is declared once, with its help text and whether it needs an
admin, next to its handler; adapters only parse `/repbot name args` into a CommandInvoked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channel_settings import Invalid, describe, parse_schedule, parse_topics
from bot.clock import Clock
from bot.daily import DailyFlow, schedule_of
from bot.events import CommandInvoked, Person
from bot.grade_admin import GradeAdmin, GradeAdminError
from bot.leaderboard import Leaderboard, month_start, week_start
from bot.messages import Context, Fields, Header, Message, Section, message, text_message
from bot.reports import Reports, export_file, report_message
from bot.views import help_message, leaderboard_message, plural
from storage.db import transaction
from storage.models import Channel, Member
from storage.repo import get_or_create_member


@dataclass(frozen=True, slots=True)
class Reply:
    message: Message
    private: bool = True


Handler = Callable[[CommandInvoked], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    usage: str
    help: str
    handler: Handler
    admin: bool = False


@dataclass(frozen=True, slots=True)
class CommandServices:
    daily: DailyFlow
    board: Leaderboard
    reports: Reports
    grades: GradeAdmin
    clock: Clock
    sessions: async_sessionmaker[AsyncSession]
    on_channel_changed: Callable[[Channel], None]
    reviews_due: Callable[[Person], Awaitable[int]] | None = None  # mock-interview reviews waiting
    # the weekly recap of the week starting on a Monday, still running (bot/recap.py)
    recap: Callable[[Channel, dt.date], Awaitable[Message | None]] | None = None
    min_answers_for_average: int = 3


def _user_arg(arg: str) -> str:
    """`<@U123>`, `<@!123>`, `@name` or a bare id -> the id/name."""
    return arg.strip().lstrip("<").rstrip(">").lstrip("@!").split("|")[0]


class Commands:
    def __init__(self, services: CommandServices):
        self._s = services
        self.table: dict[str, Command] = {}
        for cmd in (
            Command("help", "help", "what RepBot can do", self.help),
            Command(
                "question", "question [ID]", "post a question now (or show the open one); admins may name one", self.question
            ),
            Command(
                "leaderboard",
                "leaderboard [week|month|all|average|streak|workspace|teams]",
                "leaderboards: this channel by period, by average or streak; the whole workspace; channels compared",
                self.leaderboard,
            ),
            Command("stats", "stats [@user]", "points, streak, average, topics and recent grades", self.stats),
            Command("reminders", "reminders on|off", "DMs when your streak is about to break", self.reminders),
            Command("reveal", "reveal", "close the open question and reveal the model answer", self.reveal, admin=True),
            Command(
                "schedule",
                "schedule [set ...|pause|resume|skip DATE]",
                "show or change when questions are posted",
                self.schedule,
                admin=True,
            ),
            Command("topics", "topics [set a,b|clear]", "which question categories this channel gets", self.topics, admin=True),
            Command("report", "report [week|month]", "participation, weak topics and per-person rows", self.report, admin=True),
            Command(
                "export",
                "export [csv|json] [since YYYY-MM-DD]",
                "download this channel's answers and grades",
                self.export,
                admin=True,
            ),
            Command("recap", "recap", "this week's recap so far: leaderboard and chart", self.recap, admin=True),
            Command("grade", "grade set ANSWER_ID SCORE [reason]", "set a grade by hand", self.grade, admin=True),
            Command("regrade", "regrade ANSWER_ID [reason]", "grade an answer again", self.regrade, admin=True),
        ):
            self.register(cmd)

    def register(self, command: Command) -> None:
        self.table[command.name] = command

    async def dispatch(self, event: CommandInvoked) -> Reply:
        command = self.table.get(event.name.lower())
        if command is None:
            return Reply(text_message(f"Unknown command '{event.name[:40]}'. Try `help` for the list."))
        if command.admin and not event.is_admin:
            return Reply(text_message(f"Sorry, `{command.name}` is for RepBot admins of this workspace. Ask an admin to run it."))
        return await command.handler(event)

    def _today(self, channel: Channel) -> dt.date:
        return schedule_of(channel).local_day(self._s.clock.now())

    # -- everyone ----------------------------------------------------------------------------

    async def help(self, event: CommandInvoked) -> Reply:
        rows = [(c.usage, c.help + (" (admin)" if c.admin else "")) for c in self.table.values() if event.is_admin or not c.admin]
        return Reply(help_message(rows))

    async def question(self, event: CommandInvoked) -> Reply:
        wanted = event.args[0] if event.args else None
        if wanted is not None and not event.is_admin:
            return Reply(text_message("Choosing the question is for RepBot admins; `question` alone posts the next one."))
        if wanted is not None and not self._s.daily.has_question(wanted):
            return Reply(text_message(f"There is no question '{wanted[:60]}'. `repbot content list` shows the ids."))
        channel = await self._s.daily.ensure_channel(event.place)
        if await self._s.daily.open_post(channel.id) is not None:
            return Reply(
                text_message("A question is open in this channel: answer it in its thread. An admin can `reveal` it to move on.")
            )
        posted = await self._s.daily.post_extra(channel.id, wanted)
        if posted is None:
            return Reply(text_message("Someone else just posted a question here; answer that one."))
        return Reply(text_message("Posted a question. Answer in its thread."))

    async def leaderboard(self, event: CommandInvoked) -> Reply:
        kind = event.args[0].lower() if event.args else "week"
        channel = await self._s.daily.ensure_channel(event.place)
        today = self._today(channel)
        board = self._s.board
        if kind in ("all", "alltime", "all-time"):
            return Reply(leaderboard_message("Leaderboard — all time", await board.all_time(channel.id)), private=False)
        if kind == "month":
            return Reply(
                leaderboard_message(f"Leaderboard — {today:%B %Y}", await board.period(channel.id, month_start(today))),
                private=False,
            )
        if kind == "week":
            start = week_start(today)
            return Reply(
                leaderboard_message(f"Leaderboard — week of {start:%b %d}", await board.period(channel.id, start)), private=False
            )
        if kind in ("average", "avg"):
            minimum = self._s.min_answers_for_average
            rows = await board.by_average(channel.id, month_start(today), min_answers=minimum)
            lines = "\n".join(
                f"{i}. {r.name} — {r.average:.1f} avg ({plural(r.answers, 'answer')})" for i, r in enumerate(rows, 1)
            )
            text = lines or f"Nobody has {minimum}+ graded answers this month yet."
            return Reply(
                message(
                    Header(f"Best average — {today:%B %Y}"),
                    Section.of(text),
                    Context(f"at least {minimum} answers"),
                    tags=("leaderboard",),
                ),
                private=False,
            )
        if kind == "streak":
            streaks = await board.by_streak(channel.id)
            lines = "\n".join(f"{i}. {name} — {cur} in a row (best {best})" for i, (name, cur, best) in enumerate(streaks, 1))
            return Reply(
                message(Header("Longest streaks"), Section.of(lines or "No streaks yet."), tags=("leaderboard",)), private=False
            )
        if kind == "workspace":
            rows = await board.workspace(event.place.platform, event.place.workspace)
            return Reply(leaderboard_message("Leaderboard — whole workspace, all time", rows), private=False)
        if kind in ("teams", "channels"):
            teams = await board.teams(event.place.platform, event.place.workspace, month_start(today))
            lines = "\n".join(
                f"{i}. #{t.channel} — {plural(t.points, 'pt')}, {plural(t.people, 'person', 'people')}, "
                f"{(t.points / t.people if t.people else 0):.1f} per person, avg {('—' if t.average is None else f'{t.average:.1f}')}"
                for i, t in enumerate(teams, 1)
            )
            return Reply(
                message(Header(f"Teams — {today:%B %Y}"), Section.of(lines or "No channels yet."), tags=("leaderboard",)),
                private=False,
            )
        return Reply(text_message("Use `leaderboard week|month|all|average|streak|workspace|teams`."))

    async def stats(self, event: CommandInvoked) -> Reply:
        channel = await self._s.daily.ensure_channel(event.place)
        p = event.person
        async with transaction(self._s.sessions) as session:
            if event.args:
                wanted = _user_arg(event.args[0])
                member = (
                    (
                        await session.execute(
                            select(Member).where(
                                Member.platform == p.platform,
                                Member.workspace == p.workspace,
                                (Member.user_ref == wanted) | (Member.display_name == wanted),
                            )
                        )
                    )
                    .scalars()
                    .first()
                )
                if member is None:
                    return Reply(text_message(f"No stats for '{wanted[:40]}' yet."))
            else:
                member = await get_or_create_member(session, p.platform, p.workspace, p.user_id, p.display_name)
        stats = await self._s.board.personal(channel.id, member.id)
        average = "—" if stats.average is None else f"{stats.average:.1f}/10"
        blocks: list = [
            Header(f"Stats for {member.display_name or member.user_ref}"),
            Fields(
                (
                    ("Points", str(stats.points)),
                    ("Answers", str(stats.answers)),
                    ("Average", average),
                    ("Streak", str(stats.streak)),
                    ("Best streak", str(stats.best_streak)),
                )
            ),
        ]
        if stats.by_category:
            blocks.append(
                Section.of(
                    "By topic: " + ", ".join(f"{c} {v:.1f}" for c, v in sorted(stats.by_category.items(), key=lambda x: x[1]))
                )
            )
        if stats.recent:
            blocks.append(Section.of("Recent: " + ", ".join(f"{q} {s:g}" for q, s in stats.recent)))
        if not event.args and self._s.reviews_due is not None:
            due = await self._s.reviews_due(event.person)
            if due:
                blocks.append(Context(f"{due} mock-interview review{'s' if due != 1 else ''} due: `interview review`"))
        return Reply(message(*blocks, tags=("stats",)))

    async def reminders(self, event: CommandInvoked) -> Reply:
        choice = event.args[0].lower() if event.args else ""
        if choice not in ("on", "off"):
            return Reply(text_message("Use `reminders on` or `reminders off`."))
        p = event.person
        async with transaction(self._s.sessions) as session:
            member = await get_or_create_member(session, p.platform, p.workspace, p.user_id, p.display_name)
            member.reminders = choice == "on"
        return Reply(text_message("Streak reminders are on." if choice == "on" else "No more streak reminders."))

    # -- admins ------------------------------------------------------------------------------

    async def reveal(self, event: CommandInvoked) -> Reply:
        channel = await self._s.daily.ensure_channel(event.place)
        closed = await self._s.daily.close_open(channel.id)
        return Reply(text_message("Revealed." if closed else "No open question to reveal."))

    async def schedule(self, event: CommandInvoked) -> Reply:
        channel = await self._s.daily.ensure_channel(event.place)
        if not event.args:
            return Reply(message(Header("Schedule"), Fields(tuple(describe(channel))), tags=("schedule",)))
        try:
            change = parse_schedule(event.args, channel, self._today(channel))
        except Invalid as exc:
            return Reply(text_message(str(exc)))
        updated = await self._apply(channel.id, change.values)
        return (
            Reply(text_message(change.summary, tags=("schedule",)), private=False)
            if updated
            else Reply(text_message("Channel not found."))
        )

    async def topics(self, event: CommandInvoked) -> Reply:
        channel = await self._s.daily.ensure_channel(event.place)
        try:
            change = parse_topics(event.args)
        except Invalid as exc:
            return Reply(text_message(str(exc)))
        if change is None:
            return Reply(text_message("Topics: " + (", ".join(channel.topics or []) or "all categories")))
        await self._apply(channel.id, change.values)
        return Reply(text_message(change.summary), private=False)

    async def _apply(self, channel_id: int, values: dict) -> bool:  # type: ignore[type-arg]
        async with transaction(self._s.sessions) as session:
            channel = await session.get(Channel, channel_id)
            if channel is None:
                return False
            for key, value in values.items():
                setattr(channel, key, value)
        self._s.on_channel_changed(channel)
        return True

    async def report(self, event: CommandInvoked) -> Reply:
        channel = await self._s.daily.ensure_channel(event.place)
        today = self._today(channel)
        kind = event.args[0].lower() if event.args else "week"
        if kind == "month":
            since, title = month_start(today), f"Team report — {today:%B %Y}"
        elif kind == "week":
            since, title = week_start(today), f"Team report — week of {week_start(today):%d %b %Y}"
        else:
            return Reply(text_message("Use `report week` or `report month`."))
        report = await self._s.reports.report(channel.id, since, today, title)
        return Reply(report_message(report, details=channel.report_details))

    async def export(self, event: CommandInvoked) -> Reply:
        channel = await self._s.daily.ensure_channel(event.place)
        args = [a.lower() for a in event.args]
        fmt = "json" if "json" in args else "csv"
        since: dt.date | None = None
        if "since" in args and args.index("since") + 1 < len(args):
            try:
                since = dt.date.fromisoformat(args[args.index("since") + 1])
            except ValueError:
                return Reply(text_message("Use `export [csv|json] [since YYYY-MM-DD]`."))
        rows = await self._s.reports.export_rows(channel.id, since or dt.date.min)
        # Named after the day it was taken (and the first day asked for), never a placeholder date.
        stem = f"repbot-{channel.channel_ref}-{self._today(channel).isoformat()}"
        if since is not None:
            stem += f"-since-{since.isoformat()}"
        period = f"since {since.isoformat()}" if since is not None else "in all"
        file = export_file(rows, fmt, stem)
        return Reply(message(Section.of(f"{plural(len(rows), 'answer')} {period}."), file, tags=("export",)))

    async def recap(self, event: CommandInvoked) -> Reply:
        channel = await self._s.daily.ensure_channel(event.place)
        monday = week_start(self._today(channel))
        built = await self._s.recap(channel, monday) if self._s.recap is not None else None
        if built is None:
            return Reply(text_message(f"Nothing to recap for the week of {monday:%d %b} yet: no answers or points so far."))
        return Reply(built)

    async def grade(self, event: CommandInvoked) -> Reply:
        args = list(event.args)
        if len(args) < 3 or args[0].lower() != "set" or not args[1].lstrip("#").isdigit():
            return Reply(
                text_message("Use `grade set ANSWER_ID SCORE [reason]` (the answer id is in the feedback and the export).")
            )
        try:
            score = float(args[2])
            grade = await self._s.grades.set_grade(int(args[1].lstrip("#")), score, event.person.user_id, " ".join(args[3:]))
        except ValueError as exc:
            return Reply(
                text_message(str(exc) if isinstance(exc, GradeAdminError) else "The score must be a number from 0 to 10.")
            )
        return Reply(text_message(f"Answer #{args[1].lstrip('#')} now scores {grade.score:g}/10; points updated."))

    async def regrade(self, event: CommandInvoked) -> Reply:
        if not event.args or not event.args[0].lstrip("#").isdigit():
            return Reply(text_message("Use `regrade ANSWER_ID [reason]`."))
        answer_id = int(event.args[0].lstrip("#"))
        try:
            grade = await self._s.grades.regrade(answer_id, event.person.user_id, " ".join(event.args[1:]) or "regrade")
        except GradeAdminError as exc:
            return Reply(text_message(str(exc)))
        return Reply(text_message(f"Answer #{answer_id} re-graded: {grade.score:g}/10 by {grade.grader}; points updated."))
