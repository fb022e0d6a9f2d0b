"""What the dashboard pages show, read from the same tables and with the same rules as the chat
commands (bot/leaderboard.py, bot/reports.py, bot/streaks.py). No web framework here.

Reads on the overview are bounded by a window of recent weeks (posts through the (channel, day)
key, score events through their (channel, day, member) index, all time through member_totals),
so the page costs the same with a year of history as with ten years.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy import bindparam, exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.daily import schedule_of
from bot.dashboard.links import Scope
from bot.leaderboard import Leaderboard, month_start, week_start
from bot.reports import PersonRow, Reports
from bot.streaks import streak
from bot.views import BoardRow
from content.loader import QuestionBank
from content.schema import Question
from storage.models import Answer, Channel, GradeRow, Member, MemberTotal, Post, ScoreEvent

OVERVIEW_WEEKS = 8
TOPIC_WEEKS = 12
QUESTIONS_PER_PAGE = 25
BUCKETS = ((0, 2), (3, 4), (5, 6), (7, 8), (9, 10))  # score distribution bars, by rounded score


@dataclass(frozen=True, slots=True)
class ScopeView:
    """The channels a link may read, resolved from its scope."""

    title: str
    channels: tuple[Channel, ...]
    today: dt.date
    is_workspace: bool

    @property
    def ids(self) -> list[int]:
        return [c.id for c in self.channels]

    def channel_name(self, channel_id: int) -> str:
        for c in self.channels:
            if c.id == channel_id:
                return c.name or c.channel_ref
        return "?"


@dataclass(frozen=True, slots=True)
class WeekPoint:
    start: dt.date
    posts: int
    answers: int
    participation: float | None  # answers / (posts x people), as in `report`
    average: float | None


@dataclass(frozen=True, slots=True)
class StreakRow:
    name: str
    channel: str
    current: int
    best: int
    at_least: bool  # the run reaches back past the window: the real streak is this long or longer


@dataclass(frozen=True, slots=True)
class Overview:
    weeks: list[WeekPoint]
    people: int
    this_week: dt.date
    week_board: list[BoardRow]
    all_time: list[BoardRow]
    streaks: list[StreakRow]
    window_weeks: int = OVERVIEW_WEEKS


@dataclass(frozen=True, slots=True)
class MissedCriterion:
    text: str
    missed: int
    graded: int


@dataclass(frozen=True, slots=True)
class TopicRow:
    category: str
    answers: int
    average: float
    by_week: dict[dt.date, tuple[float, int]]  # week start -> (average, answers)
    missed: list[MissedCriterion]


@dataclass(frozen=True, slots=True)
class Topics:
    weeks: list[dt.date]
    rows: list[TopicRow]  # weakest first


@dataclass(frozen=True, slots=True)
class PostStats:
    post_id: int
    day: dt.date
    channel: str
    question_id: str
    title: str
    category: str
    status: str
    answers: int
    average: float | None
    distribution: tuple[int, ...]  # answers per BUCKETS entry
    most_missed: MissedCriterion | None


@dataclass(frozen=True, slots=True)
class QuestionList:
    posts: list[PostStats]
    page: int
    has_more: bool


@dataclass(frozen=True, slots=True)
class CriterionView:
    text: str
    weight: float
    verdicts: dict[str, int]  # hit / partial / missed -> answers


@dataclass(frozen=True, slots=True)
class QuestionDetail:
    stats: PostStats
    question: Question | None
    revealed: bool
    criteria: list[CriterionView] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ChannelPeople:
    channel: str
    details: bool  # the channel's report setting (`schedule set details on|off`)
    persons: list[PersonRow]
    interviews: int


@dataclass(frozen=True, slots=True)
class People:
    title: str
    channels: list[ChannelPeople]


class DashboardData:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bank: QuestionBank,
        board: Leaderboard,
        reports: Reports,
        clock: Clock,
    ):
        self._sessions = sessions
        self._bank = bank
        self._board = board
        self._reports = reports
        self._clock = clock

    async def scope(self, scope: Scope) -> ScopeView | None:
        """The channels of a link's scope; None when its channel no longer exists."""
        query = select(Channel).where(Channel.platform == scope.platform, Channel.workspace == scope.workspace)
        if scope.channel is not None:
            query = query.where(Channel.channel_ref == scope.channel)
        async with self._sessions() as session:
            channels = tuple((await session.execute(query.order_by(Channel.name, Channel.id))).scalars())
        if scope.channel is not None:
            if not channels:
                return None
            channel = channels[0]
            today = schedule_of(channel).local_day(self._clock.now())
            return ScopeView(f"#{channel.name or channel.channel_ref}", channels, today, False)
        return ScopeView(f"Workspace {scope.workspace}", channels, self._clock.now().date(), True)

    # -- overview ----------------------------------------------------------------------------

    async def overview(self, view: ScopeView) -> Overview:
        this_week = week_start(view.today)
        since = this_week - dt.timedelta(weeks=OVERVIEW_WEEKS - 1)
        ids = view.ids
        async with self._sessions() as session:
            # Core rows, not ORM loading: the window's answers are thousands of plain tuples.
            conn = await session.connection()
            posts = (
                await conn.execute(
                    select(Post.id, Post.channel_id, Post.day, Post.status).where(
                        Post.channel_id.in_(ids), Post.slot == 0, Post.status != "claimed", Post.day >= since
                    )
                )
            ).all()
            answers = await _window_answers(conn, [p[0] for p in posts])
            people = dict(
                (
                    await conn.execute(
                        select(MemberTotal.channel_id, func.count())
                        .where(MemberTotal.channel_id.in_(ids))
                        .group_by(MemberTotal.channel_id)
                    )
                ).all()
            )
            older = {
                cid
                for (cid,) in (
                    await conn.execute(
                        select(Channel.id).where(
                            Channel.id.in_(ids),
                            exists().where(Post.channel_id == Channel.id, Post.slot == 0, Post.day < since),
                        )
                    )
                ).all()
            }
            week_board = await self._week_board(session, ids, this_week)
            names = await _names(session, {member_id for _, member_id, _ in answers})
        all_time = (
            await self._board.workspace(view.channels[0].platform, view.channels[0].workspace)
            if view.is_workspace and view.channels
            else await self._board.all_time(ids[0])
            if ids
            else []
        )
        where = {post_id: (channel_id, day, status) for post_id, channel_id, day, status in posts}
        weeks = _weeks(since, where, answers, people)
        streaks = _streaks(view, where, answers, older, names)
        return Overview(weeks, sum(people.values()), this_week, week_board, all_time, streaks)

    async def _week_board(self, session: AsyncSession, ids: list[int], since: dt.date, limit: int = 10) -> list[BoardRow]:
        """This week's points over the scope's channels: the period leaderboard, summed."""
        points = func.sum(ScoreEvent.points).label("points")
        rows = (
            await session.execute(
                select(Member.display_name, Member.user_ref, points, func.sum(ScoreEvent.answers))
                .join(Member, Member.id == ScoreEvent.member_id)
                .where(ScoreEvent.channel_id.in_(ids), ScoreEvent.day >= since)
                .group_by(ScoreEvent.member_id, Member.display_name, Member.user_ref)
                .having(func.sum(ScoreEvent.points) > 0)
                .order_by(points.desc(), Member.display_name)
                .limit(limit)
            )
        ).all()
        return [BoardRow(name or ref, int(p), int(a or 0)) for name, ref, p, a in rows]

    # -- topics ------------------------------------------------------------------------------

    async def topics(self, view: ScopeView) -> Topics:
        this_week = week_start(view.today)
        since = this_week - dt.timedelta(weeks=TOPIC_WEEKS - 1)
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(Post.day, Answer.question_id, GradeRow.score, GradeRow.criteria)
                    .join(Answer, Answer.post_id == Post.id)
                    .join(GradeRow, (GradeRow.answer_id == Answer.id) & GradeRow.current.is_(True))
                    .where(*_counted_answers(view.ids, since))
                )
            ).all()
        scores: dict[str, dict[dt.date, list[float]]] = defaultdict(lambda: defaultdict(list))
        missed: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
        graded: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
        for day, question_id, score, criteria in rows:
            category = self._category(question_id)
            scores[category][week_start(day)].append(score)
            for verdict in criteria or []:
                key = (question_id, str(verdict.get("criterion_id", "")))
                graded[category][key] += 1
                if verdict.get("verdict") == "missed":
                    missed[category][key] += 1
        out = []
        for category, weeks in scores.items():
            flat = [s for values in weeks.values() for s in values]
            top = [
                MissedCriterion(self._criterion_text(q, c), n, graded[category][(q, c)])
                for (q, c), n in missed[category].most_common(3)
            ]
            out.append(
                TopicRow(
                    category,
                    len(flat),
                    sum(flat) / len(flat),
                    {w: (sum(v) / len(v), len(v)) for w, v in weeks.items()},
                    top,
                )
            )
        out.sort(key=lambda r: (r.average, r.category))
        weeks = [since + dt.timedelta(weeks=i) for i in range(TOPIC_WEEKS)]
        first = min((w for r in out for w in r.by_week), default=this_week)
        return Topics([w for w in weeks if w >= first], out)  # a young team's map starts at its first week

    # -- questions ---------------------------------------------------------------------------

    async def questions(self, view: ScopeView, page: int = 1) -> QuestionList:
        page = max(1, page)
        async with self._sessions() as session:
            posts = list(
                (
                    await session.execute(
                        select(Post)
                        .where(Post.channel_id.in_(view.ids), Post.status != "claimed")
                        .order_by(Post.day.desc(), Post.id.desc())
                        .offset((page - 1) * QUESTIONS_PER_PAGE)
                        .limit(QUESTIONS_PER_PAGE + 1)
                    )
                ).scalars()
            )
            shown = posts[:QUESTIONS_PER_PAGE]
            grades = await self._grades_of(session, [p.id for p in shown])
        return QuestionList([self._post_stats(view, p, grades.get(p.id, [])) for p in shown], page, len(posts) > len(shown))

    async def question(self, view: ScopeView, post_id: int) -> QuestionDetail | None:
        """One post of the scope (None when it is not one of the scope's channels' posts)."""
        async with self._sessions() as session:
            post = await session.get(Post, post_id)
            if post is None or post.channel_id not in view.ids or post.status == "claimed":
                return None
            grades = (await self._grades_of(session, [post.id])).get(post.id, [])
        stats = self._post_stats(view, post, grades)
        question = self._bank.get(post.question_id)
        revealed = post.status == "closed"
        criteria = []
        if question is not None and revealed:
            counts: dict[str, Counter[str]] = defaultdict(Counter)
            for _, verdicts in grades:
                for v in verdicts or []:
                    counts[str(v.get("criterion_id", ""))][str(v.get("verdict", ""))] += 1
            criteria = [CriterionView(c.description, c.weight, dict(counts[c.id])) for c in question.rubric]
        return QuestionDetail(stats, question, revealed, criteria)

    async def _grades_of(self, session: AsyncSession, post_ids: list[int]) -> dict[int, list[tuple[float, list]]]:  # type: ignore[type-arg]
        if not post_ids:
            return {}
        rows = (
            await session.execute(
                select(Answer.post_id, GradeRow.score, GradeRow.criteria)
                .join(GradeRow, (GradeRow.answer_id == Answer.id) & GradeRow.current.is_(True))
                .where(Answer.post_id.in_(post_ids), Answer.status != "deleted", Answer.late.is_(False))
            )
        ).all()
        out: dict[int, list[tuple[float, list]]] = defaultdict(list)  # type: ignore[type-arg]
        for post_id, score, criteria in rows:
            out[post_id].append((score, criteria))
        return out

    def _post_stats(self, view: ScopeView, post: Post, grades: list[tuple[float, list]]) -> PostStats:  # type: ignore[type-arg]
        question = self._bank.get(post.question_id)
        scores = [s for s, _ in grades]
        distribution = tuple(sum(1 for s in scores if lo <= round(s) <= hi) for lo, hi in BUCKETS)
        missed: Counter[str] = Counter()
        for _, verdicts in grades:
            missed.update(str(v.get("criterion_id", "")) for v in verdicts or [] if v.get("verdict") == "missed")
        most = missed.most_common(1)
        return PostStats(
            post_id=post.id,
            day=post.day,
            channel=view.channel_name(post.channel_id),
            question_id=post.question_id,
            title=question.title if question else post.question_id,
            category=self._category(post.question_id),
            status=post.status,
            answers=len(scores),
            average=sum(scores) / len(scores) if scores else None,
            distribution=distribution,
            most_missed=MissedCriterion(self._criterion_text(post.question_id, most[0][0]), most[0][1], len(scores))
            if most
            else None,
        )

    # -- people ------------------------------------------------------------------------------

    async def people(self, view: ScopeView, period: str) -> People:
        """Per-person rows as `report` shows them, only for channels whose report setting allows them."""
        out = []
        for channel in view.channels:
            today = schedule_of(channel).local_day(self._clock.now())
            since = month_start(today) if period == "month" else week_start(today)
            name = channel.name or channel.channel_ref
            report = await self._reports.report(channel.id, since, today, name)
            persons = report.persons if channel.report_details else []
            out.append(ChannelPeople(name, channel.report_details, persons, report.interviews))
        title = "this month" if period == "month" else "this week"
        return People(title, out)

    # -- helpers -----------------------------------------------------------------------------

    def _category(self, question_id: str) -> str:
        question = self._bank.get(question_id)
        return question.category.value if question else "custom"

    def _criterion_text(self, question_id: str, criterion_id: str) -> str:
        question = self._bank.get(question_id)
        if question is not None:
            for c in question.rubric:
                if c.id == criterion_id:
                    return c.description
        return criterion_id


def _counted_answers(ids: list[int], since: dt.date) -> tuple:  # type: ignore[type-arg]
    """Answers as `report` counts them: daily posts' in-time answers, not deleted."""
    return (
        Post.channel_id.in_(ids),
        Post.slot == 0,
        Post.day >= since,
        Answer.late.is_(False),
        Answer.status != "deleted",
    )


async def _window_answers(conn: AsyncConnection, post_ids: list[int]) -> list[tuple[int, int, float | None]]:
    """(post, member, current grade) of the given posts' answers as `report` counts them (in time,
    not deleted). Looked up by post id through the answers' post index, each grade through the
    grades' answer index, so the cost follows the window whatever the planner guesses about a
    date range (a plain three-table join let PostgreSQL scan every grade ever stored)."""
    grade = select(GradeRow.score).where(GradeRow.answer_id == Answer.id, GradeRow.current.is_(True)).limit(1).scalar_subquery()
    query = select(Answer.post_id, Answer.member_id, grade).where(
        Answer.post_id.in_(bindparam("posts", expanding=True)), Answer.late.is_(False), Answer.status != "deleted"
    )
    out: list[tuple[int, int, float | None]] = []
    for chunk in _chunks(post_ids):
        out += [(p, m, g) for p, m, g in await conn.execute(query, {"posts": chunk})]
    return out


def _chunks(ids: list[int], size: int = 2000) -> list[list[int]]:
    """Id lists small enough for one statement's bind parameters on every backend."""
    return [ids[i : i + size] for i in range(0, len(ids), size)]


async def _names(session: AsyncSession, member_ids: set[int]) -> dict[int, str]:
    if not member_ids:
        return {}
    rows = await session.execute(select(Member.id, Member.display_name, Member.user_ref).where(Member.id.in_(member_ids)))
    return {i: name or ref for i, name, ref in rows.all()}


def _weeks(
    since: dt.date,
    posts: dict[int, tuple[int, dt.date, str]],
    answers: list[tuple[int, int, float | None]],
    people: dict[int, int],
) -> list[WeekPoint]:
    n_posts: Counter[dt.date] = Counter()
    possible: Counter[dt.date] = Counter()  # posts x people, summed over channels
    for channel_id, day, _ in posts.values():
        week = week_start(day)
        n_posts[week] += 1
        possible[week] += people.get(channel_id, 0)
    week_of = {post_id: week_start(day) for post_id, (_, day, _) in posts.items()}
    graded: Counter[dt.date] = Counter()
    score_sum: dict[dt.date, float] = defaultdict(float)
    for post_id, _, score in answers:
        if score is not None:  # answers count once graded, as in `report`
            week = week_of[post_id]
            graded[week] += 1
            score_sum[week] += score
    weeks = [since + dt.timedelta(weeks=i) for i in range(OVERVIEW_WEEKS)]
    return [
        WeekPoint(
            w,
            n_posts[w],
            graded[w],
            graded[w] / possible[w] if possible[w] else None,
            score_sum[w] / graded[w] if graded[w] else None,
        )
        for w in weeks
    ]


def _streaks(
    view: ScopeView,
    posts: dict[int, tuple[int, dt.date, str]],
    answers: list[tuple[int, int, float | None]],
    older: set[int],
    names: dict[int, str],
) -> list[StreakRow]:
    """Streaks over the window's posts with the core's rule; a run that reaches the window's first
    post in a channel with older posts is marked as a lower bound instead of reading all history."""
    days: dict[int, list[dt.date]] = defaultdict(list)
    open_day: dict[int, dt.date] = {}
    for channel_id, day, status in posts.values():
        days[channel_id].append(day)
        if status == "open":
            open_day[channel_id] = max(day, open_day.get(channel_id, day))
    by_person: dict[tuple[int, int], set[dt.date]] = defaultdict(set)
    for post_id, member_id, _ in answers:
        channel_id, day, _ = posts[post_id]
        by_person[(member_id, channel_id)].add(day)
    channel_names = {c.id: c.name or c.channel_ref for c in view.channels}
    rows = []
    for (member_id, channel_id), answered_days in by_person.items():
        channel_days = days.get(channel_id, [])
        run = streak(channel_days, answered_days, open_day.get(channel_id))
        if run.current <= 0 and run.best <= 0:
            continue
        closed_days = [d for d in channel_days if d != open_day.get(channel_id) or d in answered_days]
        at_least = channel_id in older and run.current >= len(closed_days) > 0
        rows.append(StreakRow(names.get(member_id, "?"), channel_names.get(channel_id, "?"), run.current, run.best, at_least))
    rows.sort(key=lambda r: (-r.current, -r.best, r.name))
    return rows[:10]
