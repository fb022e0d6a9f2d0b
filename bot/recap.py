"""The weekly recap: on the first scheduled day of a week, last week's leaderboard and a chart.

Posted once per channel and ISO week (announcements unique key), whichever replica gets there.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.charts import week_chart
from bot.clock import Clock
from bot.daily import schedule_of
from bot.feedback import place_of
from bot.leaderboard import Leaderboard, week_start
from bot.messages import Context, Header, Image, Message, Section, message
from bot.ports import Chat
from bot.reports import Reports
from bot.views import plural
from storage.db import transaction
from storage.models import Announcement, Channel


def is_first_scheduled_day_of_week(channel: Channel, day: dt.date) -> bool:
    schedule = schedule_of(channel)
    if not schedule.is_scheduled(day):
        return False
    monday = week_start(day)
    return not any(schedule.is_scheduled(monday + dt.timedelta(days=i)) for i in range((day - monday).days))


class WeeklyRecap:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], chat: Chat, board: Leaderboard, reports: Reports, clock: Clock
    ):
        self._sessions = sessions
        self._chat = chat
        self._board = board
        self._reports = reports
        self._clock = clock

    async def maybe_post(self, channel_id: int, day: dt.date) -> bool:
        async with self._sessions() as session:
            channel = await session.get(Channel, channel_id)
        if channel is None or not is_first_scheduled_day_of_week(channel, day):
            return False
        last_monday = week_start(day) - dt.timedelta(days=7)
        msg = await self.build(channel, last_monday)
        if msg is None:
            return False
        iso = last_monday.isocalendar()
        if not await self._claim(channel_id, f"{iso.year}-W{iso.week:02d}"):
            return False
        await self._chat.post(place_of(channel), msg)
        return True

    async def build(self, channel: Channel, monday: dt.date, *, current: bool = False) -> Message | None:
        """The recap of the week starting `monday`; `current`: the week still running (`recap`)."""
        sunday = monday + dt.timedelta(days=6)
        period = "this week so far" if current else "last week"
        rows = await self._board.period(channel.id, monday, sunday)
        answers = [r for r in await self._reports.export_rows(channel.id, monday, sunday) if r.score is not None]
        if not rows and not answers:
            return None  # nothing happened last week: say nothing
        days = [monday + dt.timedelta(days=i) for i in range(7)]
        per_day: dict[str, list[float]] = defaultdict(list)
        for a in answers:
            per_day[a.day].append(a.score or 0.0)
        counts = [len(per_day[d.isoformat()]) for d in days]
        averages = [sum(v) / len(v) if (v := per_day[d.isoformat()]) else None for d in days]
        png = week_chart(days, counts, averages, f"{period.capitalize()}: participation and average score")
        board = "\n".join(f"{i}. {r.name} — {plural(r.points, 'pt')}" for i, r in enumerate(rows, 1)) or f"No points {period}."
        busiest = max(range(7), key=lambda i: counts[i])
        alt = (
            f"Bar chart of answers per day for the week of {monday:%d %b}: "
            + ", ".join(f"{d:%a} {c}" for d, c in zip(days, counts, strict=True))
            + f". Busiest day {days[busiest]:%A}. Line of average score per day, with gaps on days without answers."
        )
        return message(
            Header(f"Weekly recap — week of {monday:%d %b %Y}"),
            Section.of(board),
            Image(png, alt, filename=f"recap-{monday.isoformat()}.png"),
            Context(f"{plural(sum(counts), 'answer')} {period}"),
            summary=f"Weekly recap — week of {monday:%d %b}",
            tags=("recap",),
        )

    async def _claim(self, channel_id: int, period: str) -> bool:
        try:
            async with transaction(self._sessions) as session:
                session.add(Announcement(channel_id=channel_id, kind="recap", period=period, created_at=self._clock.now()))
            return True
        except IntegrityError:
            return False
