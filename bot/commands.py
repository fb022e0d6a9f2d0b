"""Platform-neutral commands. Each is declared once, with its help text and whether it needs an
admin, next to its handler; adapters only parse `/repbot name args` into a CommandInvoked."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.clock import Clock
from bot.daily import DailyFlow, schedule_of
from bot.events import CommandInvoked
from bot.leaderboard import Leaderboard, month_start, week_start
from bot.messages import Fields, Header, Message, Section, message, text_message
from bot.views import help_message, leaderboard_message
from storage.db import transaction
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


class Commands:
    def __init__(self, daily: DailyFlow, board: Leaderboard, clock: Clock, sessions):  # type: ignore[no-untyped-def]
        self._daily = daily
        self._board = board
        self._clock = clock
        self._sessions = sessions
        self.table: dict[str, Command] = {}
        for cmd in (
            Command("help", "help", "what RepBot can do", self.help),
            Command("question", "question", "post a question now (or show the open one)", self.question),
            Command("leaderboard", "leaderboard [week|month|all]", "this channel's leaderboard", self.leaderboard),
            Command("stats", "stats", "your points, answers and recent grades", self.stats),
            Command("reveal", "reveal", "close the open question and reveal the model answer", self.reveal, admin=True),
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

    async def help(self, event: CommandInvoked) -> Reply:
        rows = [(c.usage, c.help + (" (admin)" if c.admin else "")) for c in self.table.values()]
        return Reply(help_message(rows))

    async def question(self, event: CommandInvoked) -> Reply:
        channel = await self._daily.ensure_channel(event.place)
        if await self._daily.open_post(channel.id) is not None:
            return Reply(
                text_message("A question is open in this channel: answer it in its thread. An admin can `reveal` it to move on.")
            )
        posted = await self._daily.post_extra(channel.id)
        if posted is None:
            return Reply(text_message("Someone else just posted a question here; answer that one."))
        return Reply(text_message("Posted a question. Answer in its thread."))

    async def leaderboard(self, event: CommandInvoked) -> Reply:
        period = event.args[0].lower() if event.args else "week"
        channel = await self._daily.ensure_channel(event.place)
        today = schedule_of(channel).local_day(self._clock.now())
        if period in ("all", "alltime", "all-time"):
            rows, title = await self._board.all_time(channel.id), "Leaderboard — all time"
        elif period == "month":
            rows, title = await self._board.period(channel.id, month_start(today)), f"Leaderboard — {today:%B %Y}"
        elif period == "week":
            rows, title = (
                await self._board.period(channel.id, week_start(today)),
                f"Leaderboard — week of {week_start(today):%b %d}",
            )
        else:
            return Reply(text_message("Use `leaderboard week`, `leaderboard month` or `leaderboard all`."))
        return Reply(leaderboard_message(title, rows), private=False)

    async def stats(self, event: CommandInvoked) -> Reply:
        channel = await self._daily.ensure_channel(event.place)
        async with transaction(self._sessions) as session:
            p = event.person
            member = await get_or_create_member(session, p.platform, p.workspace, p.user_id, p.display_name)
        stats = await self._board.personal(channel.id, member.id)
        average = "—" if stats.average is None else f"{stats.average:.1f}/10"
        blocks: list = [
            Header(f"Stats for {event.person.name}"),
            Fields((("Points", str(stats.points)), ("Answers", str(stats.answers)), ("Average", average))),
        ]
        if stats.recent:
            blocks.append(Section.of("Recent: " + ", ".join(f"{q} {s:g}" for q, s in stats.recent)))
        return Reply(message(*blocks, tags=("stats",)))

    async def reveal(self, event: CommandInvoked) -> Reply:
        channel = await self._daily.ensure_channel(event.place)
        closed = await self._daily.close_open(channel.id)
        return Reply(text_message("Revealed." if closed else "No open question to reveal."))
