"""A person's own page across their channels (Slack App Home, `stats` in a DM)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.events import Person
from bot.leaderboard import Leaderboard
from bot.messages import Context, Fields, Header, Message, Section, bold, message
from storage.models import Channel, Member, MemberTotal


class HomePage:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], board: Leaderboard):
        self._sessions = sessions
        self._board = board

    async def view(self, person: Person) -> Message:
        async with self._sessions() as session:
            member = (
                await session.execute(
                    select(Member).where(
                        Member.platform == person.platform,
                        Member.workspace == person.workspace,
                        Member.user_ref == person.user_id,
                    )
                )
            ).scalar_one_or_none()
            channels = []
            if member is not None:
                channels = (
                    (
                        await session.execute(
                            select(Channel)
                            .join(MemberTotal, MemberTotal.channel_id == Channel.id)
                            .where(MemberTotal.member_id == member.id)
                        )
                    )
                    .scalars()
                    .all()
                )
        blocks: list = [Header(f"RepBot — {person.name}")]
        if member is None or not channels:
            blocks.append(
                Section.of("You have not answered a question yet. Answer today's question in your team channel's thread.")
            )
            return message(*blocks, tags=("home",))
        for channel in channels:
            stats = await self._board.personal(channel.id, member.id)
            average = "—" if stats.average is None else f"{stats.average:.1f}/10"
            label = channel.name or channel.channel_ref
            blocks.append(Section.of(bold(f"#{label}")))
            blocks.append(Fields((("Points", str(stats.points)), ("Answers", str(stats.answers)), ("Average", average))))
            if stats.recent:
                blocks.append(Context("Recent: " + ", ".join(f"{q} {s:g}" for q, s in stats.recent)))
            top = await self._board.all_time(channel.id, limit=5)
            if top:
                blocks.append(Section.of("Leaderboard: " + ", ".join(f"{i}. {r.name} {r.points}" for i, r in enumerate(top, 1))))
        return message(*blocks, tags=("home",))
