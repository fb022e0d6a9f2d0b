"""Leaderboard reads. Periods sum score events through the (channel, day, member) index; all
time reads the incrementally kept totals, so its cost does not grow with history."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.history import answered_days, answered_days_by_member, daily_post_days, open_daily_day
from bot.streaks import streak
from bot.views import BoardRow
from content.loader import QuestionBank
from storage.models import Answer, Channel, GradeRow, Member, MemberTotal, Post, ScoreEvent


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
    streak: int = 0
    best_streak: int = 0
    by_category: dict[str, float] = field(default_factory=dict)  # question category -> average


@dataclass(frozen=True, slots=True)
class AverageRow:
    name: str
    average: float
    answers: int


@dataclass(frozen=True, slots=True)
class TeamRow:
    channel: str
    people: int
    points: int
    answers: int
    average: float | None


class Leaderboard:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], bank: QuestionBank | None = None):
        self._sessions = sessions
        self._bank = bank

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

    async def by_average(self, channel_id: int, since: dt.date, min_answers: int = 3, limit: int = 10) -> list[AverageRow]:
        average = func.avg(GradeRow.score).label("average")
        query = (
            select(Member.display_name, Member.user_ref, average, func.count(Answer.id))
            .join(Answer, Answer.member_id == Member.id)
            .join(Post, Post.id == Answer.post_id)
            .join(GradeRow, (GradeRow.answer_id == Answer.id) & GradeRow.current.is_(True))
            .where(Post.channel_id == channel_id, Post.day >= since, Answer.late.is_(False), Answer.status == "graded")
            .group_by(Member.id, Member.display_name, Member.user_ref)
            .having(func.count(Answer.id) >= min_answers)
            .order_by(average.desc(), Member.display_name)
            .limit(limit)
        )
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [AverageRow(name or ref, float(avg), int(n)) for name, ref, avg, n in rows]

    async def by_streak(self, channel_id: int, limit: int = 10) -> list[tuple[str, int, int]]:
        """(name, current streak, best streak), longest current streak first."""
        async with self._sessions() as session:
            days = await daily_post_days(session, channel_id)
            answered = await answered_days_by_member(session, channel_id)
            open_day = await open_daily_day(session, channel_id)
            members = {m.id: m for m in (await session.execute(select(Member).where(Member.id.in_(answered.keys())))).scalars()}
        rows = []
        for member_id, member_days in answered.items():
            s = streak(days, member_days, open_day)
            member = members[member_id]
            rows.append((member.display_name or member.user_ref, s.current, s.best))
        rows.sort(key=lambda r: (-r[1], -r[2], r[0]))
        return [r for r in rows if r[1] > 0][:limit]

    async def workspace(self, platform: str, workspace: str, limit: int = 10) -> list[BoardRow]:
        """All-time totals summed over every channel of a workspace or guild."""
        points = func.sum(MemberTotal.points).label("points")
        query = (
            select(Member.display_name, Member.user_ref, points, func.sum(MemberTotal.answers))
            .join(Member, Member.id == MemberTotal.member_id)
            .join(Channel, Channel.id == MemberTotal.channel_id)
            .where(Channel.platform == platform, Channel.workspace == workspace)
            .group_by(Member.id, Member.display_name, Member.user_ref)
            .having(func.sum(MemberTotal.points) > 0)
            .order_by(points.desc(), Member.display_name)
            .limit(limit)
        )
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [BoardRow(name or ref, int(p), int(a or 0)) for name, ref, p, a in rows]

    async def teams(self, platform: str, workspace: str, since: dt.date) -> list[TeamRow]:
        """Channels of a workspace compared over a period: points per person keeps it fair."""
        async with self._sessions() as session:
            channels = (
                (await session.execute(select(Channel).where(Channel.platform == platform, Channel.workspace == workspace)))
                .scalars()
                .all()
            )
            out = []
            for channel in channels:
                points, answers, people = (
                    await session.execute(
                        select(
                            func.coalesce(func.sum(ScoreEvent.points), 0),
                            func.coalesce(func.sum(ScoreEvent.answers), 0),
                            func.count(func.distinct(ScoreEvent.member_id)),
                        ).where(ScoreEvent.channel_id == channel.id, ScoreEvent.day >= since)
                    )
                ).one()
                average = (
                    await session.execute(
                        select(func.avg(GradeRow.score))
                        .join(Answer, GradeRow.answer_id == Answer.id)
                        .join(Post, Post.id == Answer.post_id)
                        .where(
                            Post.channel_id == channel.id,
                            Post.day >= since,
                            GradeRow.current.is_(True),
                            Answer.status == "graded",
                        )
                    )
                ).scalar_one_or_none()
                out.append(
                    TeamRow(
                        channel.name or channel.channel_ref,
                        int(people),
                        int(points),
                        int(answers),
                        float(average) if average is not None else None,
                    )
                )
        out.sort(key=lambda t: (-(t.points / t.people if t.people else 0), t.channel))
        return out

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
            days = await daily_post_days(session, channel_id)
            answered = await answered_days(session, channel_id, member_id)
            run = streak(days, answered, await open_daily_day(session, channel_id))
        scores = [s for _, s in grades]
        per_category: dict[str, list[float]] = {}
        for question_id, score in grades:
            question = self._bank.get(question_id) if self._bank else None
            per_category.setdefault(question.category.value if question else "other", []).append(score)
        return PersonalStats(
            points=total.points if total else 0,
            answers=total.answers if total else 0,
            average=sum(scores) / len(scores) if scores else None,
            recent=[(q, s) for q, s in grades[:5]],
            streak=run.current,
            best_streak=run.best,
            by_category={c: sum(v) / len(v) for c, v in sorted(per_category.items())},
        )
