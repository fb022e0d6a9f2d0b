"""Streak reminders: a DM a few hours before close to people whose streak is at risk.

Only channels with `reminder_hours` set; people can opt out (`reminders off`). Each person is
reminded at most once per post (announcements unique key), even with several replicas.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.feedback import person_of
from bot.history import answered_days_by_member, daily_post_days
from bot.messages import text_message
from bot.ports import Chat
from bot.streaks import streak
from storage.db import transaction
from storage.models import Announcement, Channel, Member, Post

MIN_STREAK = 2


class StreakReminders:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], chat: Chat, clock: Clock):
        self._sessions = sessions
        self._chat = chat
        self._clock = clock

    async def send_due(self) -> int:
        now = self._clock.now()
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(Post, Channel)
                    .join(Channel, Channel.id == Post.channel_id)
                    .where(Post.status == "open", Post.slot == 0, Channel.reminder_hours.is_not(None), Post.closes_at > now)
                )
            ).all()
        sent = 0
        for post, channel in rows:
            assert post.closes_at is not None and channel.reminder_hours is not None
            if post.closes_at - now > dt.timedelta(hours=channel.reminder_hours):
                continue
            sent += await self._remind(post, channel, now)
        return sent

    async def _remind(self, post: Post, channel: Channel, now: dt.datetime) -> int:
        async with self._sessions() as session:
            days = [d for d in await daily_post_days(session, channel.id) if d < post.day]
            answered = await answered_days_by_member(session, channel.id)
            members = {m.id: m for m in (await session.execute(select(Member).where(Member.id.in_(answered.keys())))).scalars()}
            # Reminders already sent for this post: skipped here, so each 30-second sweep does not
            # attempt (and fail) one claim per member until the post closes.
            reminded = set(
                (
                    await session.execute(
                        select(Announcement.period).where(
                            Announcement.channel_id == channel.id,
                            Announcement.kind == "reminder",
                            Announcement.period.startswith(f"post:{post.id}:m:"),
                        )
                    )
                ).scalars()
            )
        sent = 0
        for member_id, member_days in answered.items():
            member = members.get(member_id)
            period = f"post:{post.id}:m:{member_id}"
            if member is None or not member.reminders or post.day in member_days or period in reminded:
                continue
            run = streak(days, member_days).current
            if run < MIN_STREAK or not await self._claim(channel.id, period, now):
                continue
            left = int((post.closes_at - now).total_seconds() // 60) if post.closes_at else 0
            await self._chat.dm(
                person_of(member),
                text_message(
                    f"Your {run}-question streak in #{channel.name or channel.channel_ref} ends if today's question goes "
                    f"unanswered: {left // 60} h {left % 60} min left. (Send `reminders off` to stop these.)",
                    tags=("reminder",),
                ),
            )
            sent += 1
        return sent

    async def _claim(self, channel_id: int, period: str, now: dt.datetime) -> bool:
        try:
            async with transaction(self._sessions) as session:
                session.add(Announcement(channel_id=channel_id, kind="reminder", period=period, created_at=now))
            return True
        except IntegrityError:
            return False
