"""Leaderboard reads. Periods sum score events through the (channel, day, member) index; all
time reads the incrementally kept totals, so its cost does not grow with history."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.views import BoardRow
from storage.models import Answer, GradeRow, Member, MemberTotal, Post, ScoreEvent


def week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


@dataclass(frozen=True, slots=True)
class PersonalStats:
    points: int
    answers: int
    average: float | None
    recent: list[tuple[str, float]]  # (question id, score), newest first


class Leaderboard:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]):
        self._sessions = sessions

    async def period(self, channel_id: int, since: dt.date, until: dt.date | None = None, limit: int = 10) -> list[BoardRow]:
        points = func.sum(ScoreEvent.points).label("points")
        query = (
            select(Member.display_name, Member.user_ref, points, func.sum(ScoreEvent.answers))
            .join(Member, Member.id == ScoreEvent.member_id)
            .where(ScoreEvent.channel_id == channel_id, ScoreEvent.day >= since)
            .group_by(ScoreEvent.member_id, Member.display_name, Member.user_ref)
            .having(func.sum(ScoreEvent.points) > 0)
            .order_by(points.desc(), Member.display_name)
            .limit(limit)
        )
        if until is not None:
            query = query.where(ScoreEvent.day <= until)
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [BoardRow(name or ref, int(p), int(a or 0)) for name, ref, p, a in rows]

    async def all_time(self, channel_id: int, limit: int = 10) -> list[BoardRow]:
        query = (
            select(Member.display_name, Member.user_ref, MemberTotal.points, MemberTotal.answers)
            .join(Member, Member.id == MemberTotal.member_id)
            .where(MemberTotal.channel_id == channel_id, MemberTotal.points > 0)
            .order_by(MemberTotal.points.desc(), Member.display_name)
            .limit(limit)
        )
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [BoardRow(name or ref, int(p), int(a)) for name, ref, p, a in rows]

    async def personal(self, channel_id: int, member_id: int) -> PersonalStats:
        async with self._sessions() as session:
            total = await session.get(MemberTotal, (channel_id, member_id))
            grades = (
                await session.execute(
                    select(Answer.question_id, GradeRow.score)
                    .join(GradeRow, (GradeRow.answer_id == Answer.id) & GradeRow.current.is_(True))
                    .join(Post, Post.id == Answer.post_id)
                    .where(Post.channel_id == channel_id, Answer.member_id == member_id, Answer.status == "graded")
                    .order_by(GradeRow.created_at.desc())
                )
            ).all()
        scores = [s for _, s in grades]
        return PersonalStats(
            points=total.points if total else 0,
            answers=total.answers if total else 0,
            average=sum(scores) / len(scores) if scores else None,
            recent=[(q, s) for q, s in grades[:5]],
        )
