"""Manager reports and exports: participation, weak topics, per-person rows, CSV/JSON files."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import defaultdict
from dataclasses import asdict, dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.history import answered_days_by_member, daily_post_days, open_daily_day
from bot.messages import Attachment, Context, Fields, Header, Message, Section, bold, message
from bot.streaks import streak
from bot.views import plural
from content.loader import QuestionBank
from storage.models import Answer, Channel, GradeRow, Interview, Member, Post, ScoreEvent


@dataclass(frozen=True, slots=True)
class ExportRow:
    answer_id: int
    day: str
    question_id: str
    category: str
    user_id: str
    name: str
    score: float | None
    points: int
    late: bool
    private: bool
    grader: str
    flags: str
    received_at: str
    answer: str  # the text that was graded (several messages merged)
    feedback: str
    graded_at: str


@dataclass(frozen=True, slots=True)
class PersonRow:
    name: str
    answers: int
    average: float | None
    streak: int


@dataclass(frozen=True, slots=True)
class CategoryRow:
    category: str
    answers: int
    average: float


@dataclass(frozen=True, slots=True)
class Report:
    title: str
    posts: int
    people: int
    answers: int
    participation: float | None
    average: float | None
    categories: list[CategoryRow]  # weakest first
    persons: list[PersonRow]
    interviews: int  # DM mock interviews started in the period (counts only; answers stay private)


class Reports:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], bank: QuestionBank):
        self._sessions = sessions
        self._bank = bank

    async def export_rows(self, channel_id: int, since: dt.date, until: dt.date | None = None) -> list[ExportRow]:
        query = (
            select(Answer, Post, Member, GradeRow)
            .join(Post, Post.id == Answer.post_id)
            .join(Member, Member.id == Answer.member_id)
            .outerjoin(GradeRow, (GradeRow.answer_id == Answer.id) & GradeRow.current.is_(True))
            .where(Post.channel_id == channel_id, Post.day >= since, Answer.status != "deleted")
            .order_by(Post.day, Answer.id)
        )
        if until is not None:
            query = query.where(Post.day <= until)
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        out = []
        for answer, post, member, grade in rows:
            question = self._bank.get(answer.question_id)
            out.append(
                ExportRow(
                    answer_id=answer.id,
                    day=post.day.isoformat(),
                    question_id=answer.question_id,
                    category=question.category.value if question else "",
                    user_id=member.user_ref,
                    name=member.display_name or member.user_ref,
                    score=grade.score if grade else None,
                    points=answer.points_awarded,
                    late=answer.late,
                    private=answer.private,
                    grader=grade.grader if grade else "",
                    flags=",".join(grade.flags) if grade else "",
                    received_at=answer.received_at.isoformat(),
                    answer=answer.text,
                    feedback=grade.feedback if grade else "",
                    graded_at=grade.created_at.isoformat() if grade else "",
                )
            )
        return out

    async def report(self, channel_id: int, since: dt.date, until: dt.date, title: str) -> Report:
        rows = [r for r in await self.export_rows(channel_id, since, until) if r.score is not None and not r.late]
        async with self._sessions() as session:
            posts = len([d for d in await daily_post_days(session, channel_id, until=until) if d >= since])
            people_total = (
                await session.execute(
                    select(func.count(func.distinct(ScoreEvent.member_id))).where(ScoreEvent.channel_id == channel_id)
                )
            ).scalar_one()
            days = await daily_post_days(session, channel_id)
            answered = await answered_days_by_member(session, channel_id)
            open_day = await open_daily_day(session, channel_id)
            member_ids = {
                m.user_ref: m.id for m in (await session.execute(select(Member).where(Member.id.in_(answered.keys())))).scalars()
            }
            interviews = await self._interviews_started(session, channel_id, since, until)
        by_category: dict[str, list[float]] = defaultdict(list)
        by_person: dict[str, list[float]] = defaultdict(list)
        names: dict[str, str] = {}
        for row in rows:
            by_category[row.category or "custom"].append(row.score or 0.0)
            by_person[row.user_id].append(row.score or 0.0)
            names[row.user_id] = row.name
        categories = sorted(
            (CategoryRow(c, len(s), sum(s) / len(s)) for c, s in by_category.items()), key=lambda c: (c.average, c.category)
        )
        persons = sorted(
            (
                PersonRow(
                    names[u], len(s), sum(s) / len(s), streak(days, answered.get(member_ids.get(u, -1), set()), open_day).current
                )
                for u, s in by_person.items()
            ),
            key=lambda p: (-p.answers, -(p.average or 0), p.name),
        )
        scores = [r.score or 0.0 for r in rows]
        daily_answers = len(rows)
        return Report(
            title=title,
            posts=posts,
            people=people_total,
            answers=daily_answers,
            participation=(daily_answers / (posts * people_total)) if posts and people_total else None,
            average=sum(scores) / len(scores) if scores else None,
            categories=categories,
            persons=persons,
            interviews=interviews,
        )

    async def _interviews_started(self, session: AsyncSession, channel_id: int, since: dt.date, until: dt.date) -> int:
        """Interviews started by this channel's members in the period: a count, never content."""
        channel = await session.get(Channel, channel_id)
        if channel is None:
            return 0
        members = select(ScoreEvent.member_id).where(ScoreEvent.channel_id == channel_id).distinct()
        start = dt.datetime.combine(since, dt.time(0), tzinfo=dt.UTC)
        end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(0), tzinfo=dt.UTC)
        return int(
            (
                await session.execute(
                    select(func.count())
                    .select_from(Interview)
                    .where(Interview.member_id.in_(members), Interview.started_at >= start, Interview.started_at < end)
                )
            ).scalar_one()
        )


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"


def _avg(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def report_message(report: Report, *, details: bool) -> Message:
    blocks: list = [
        Header(report.title),
        Fields(
            (
                ("Questions", str(report.posts)),
                ("People", str(report.people)),
                ("Answers", str(report.answers)),
                ("Participation", _pct(report.participation)),
                ("Average", _avg(report.average)),
                ("Mock interviews", str(report.interviews)),
            )
        ),
    ]
    if report.categories:
        lines = "\n".join(f"{c.category}: {c.average:.1f} ({plural(c.answers, 'answer')})" for c in report.categories)
        blocks.append(Section.of(bold("By topic, weakest first:\n"), lines))
    if details and report.persons:
        lines = "\n".join(
            f"{p.name}: {plural(p.answers, 'answer')}, avg {_avg(p.average)}, streak {p.streak}" for p in report.persons
        )
        blocks.append(Section.of(bold("People:\n"), lines))
    elif not details:
        blocks.append(Context("Per-person rows are turned off for this channel."))
    return message(*blocks, summary=report.title, tags=("report",))


def export_file(rows: list[ExportRow], fmt: str, stem: str) -> Attachment:
    if fmt == "json":
        return Attachment(json.dumps([asdict(r) for r in rows], indent=2).encode(), f"{stem}.json", "application/json")
    buffer = io.StringIO()
    fields = list(ExportRow.__dataclass_fields__)
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_safe(v) for k, v in asdict(row).items()})
    return Attachment(buffer.getvalue().encode(), f"{stem}.csv", "text/csv")


def _csv_safe(value: object) -> object:
    """Stop spreadsheet formula injection through display names."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
