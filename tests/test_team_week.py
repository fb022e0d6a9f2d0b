"""A team's week as a conversation: scheduled posts, three people answering, leaderboards,
streaks, the weekly recap with its chart, the manager report, CSV export, admin corrections."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import func, select

from bot.app import offline_grader_for
from bot.clock import FrozenClock
from bot.grading.model import Grade
from bot.messages import Attachment, Image
from bot.scoring import points_for
from content.loader import QuestionBank
from content.schema import Question
from storage.models import Answer, GradeRow, Member, MemberTotal, ScoreEvent
from tests.fake_chat import FakeChat
from tests.harness import Team

GOOD = (
    "I would send a small percentage of traffic, about 1%, to the canary through the service mesh and run a "
    "baseline of the old version side by side at the same time. I watch the error rate and p99 latency, and "
    "the controller rolls back automatically, setting the weight to zero, when the canary is worse."
)
OK = "I would route a small percentage of traffic through the load balancer and watch the error rate and latency of it."
WEAK = "I would deploy it to a few servers and look at the graphs to see whether it is fine."
# Monday 2 March 2026, 09:00 in Berlin (CET) is 08:00 UTC.
MONDAY_9 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)


async def run_day(team: Team, day_index: int, answers: dict[str, str]) -> None:
    team.clock.set(MONDAY_9 + dt.timedelta(days=day_index, seconds=5))
    await team.bot.scheduler.fire(team.channel_id)
    channel = await team.channel()
    post = await team.bot.daily.open_post(channel.id)
    assert post is not None
    team.thread = post.thread_ref
    for name, text in answers.items():
        await team.answer(name, text)
    await team.grade()
    team.clock.advance(hours=9)
    await team.bot.daily.close_due()


async def a_week(team: Team) -> None:
    # The canary question every day, so the answers below fit it.
    await team.command("admin", "topics", "set", "deployment-strategies", admin=True)
    # Alice answers every day, Bob misses Wednesday, Carol only answers twice.
    plan = [
        {"alice": GOOD, "bob": OK, "carol": WEAK},
        {"alice": GOOD, "bob": OK},
        {"alice": GOOD},
        {"alice": GOOD, "bob": WEAK, "carol": OK},
        {"alice": OK, "bob": GOOD},
    ]
    for i, answers in enumerate(plan):
        await run_day(team, i, answers)


async def test_week_leaderboard_streaks_and_stats(team: Team) -> None:
    await a_week(team)
    assert len(team.chat.posts()) == 5 and len(team.chat.of("reveal")) == 5
    board = (await team.command("dave", "leaderboard", "week")).message.text()
    assert board.index("Alice") < board.index("Bob") < board.index("Carol")
    streaks = (await team.command("dave", "leaderboard", "streak")).message.text()
    assert "Alice — 5 in a row (best 5)" in streaks and "Bob — 2 in a row (best 2)" in streaks
    stats = (await team.command("bob", "stats")).message.text()
    assert "Streak: 2" in stats and "Best streak: 2" in stats and "deployment-strategies" in stats
    other = (await team.command("dave", "stats", "<@alice>")).message.text()
    assert "Stats for Alice" in other and "Answers: 5" in other

    # All-time totals (kept incrementally) agree, member by member, with the sum of score events.
    async with team.bot.sessions() as session:
        summed = {
            (channel_id, member_id): (int(points), int(answers))
            for channel_id, member_id, points, answers in (
                await session.execute(
                    select(
                        ScoreEvent.channel_id, ScoreEvent.member_id, func.sum(ScoreEvent.points), func.sum(ScoreEvent.answers)
                    ).group_by(ScoreEvent.channel_id, ScoreEvent.member_id)
                )
            ).all()
        }
        totals = {
            (t.channel_id, t.member_id): (t.points, t.answers) for t in (await session.execute(select(MemberTotal))).scalars()
        }
        names = dict((await session.execute(select(Member.id, Member.display_name))).all())
    assert len(summed) == 3 and totals == summed  # Alice, Bob and Carol answered
    # The all-time board is read from those totals.
    board = {row.name: row.points for row in await team.bot.board.all_time(team.channel_id)}
    assert board == {names[member_id]: points for (_, member_id), (points, _) in summed.items()}
    all_time = (await team.command("dave", "leaderboard", "all")).message.text()
    for (_, member_id), (points, answers) in summed.items():
        assert f"{names[member_id]} — {points} pts ({answers} answers)" in all_time


async def test_streak_bonus_shows_in_points(team: Team) -> None:
    await team.command("admin", "topics", "set", "deployment-strategies", admin=True)
    for day in range(3):
        await run_day(team, day, {"alice": GOOD})
    async with team.bot.sessions() as session:
        events = (await session.execute(select(ScoreEvent).order_by(ScoreEvent.day))).scalars().all()
        scores = (await session.execute(select(GradeRow.score).order_by(GradeRow.id))).scalars().all()
    assert [e.points for e in events] == [points_for(s, late=False, streak=n) for n, s in enumerate(scores, start=1)]
    assert events[2].points == points_for(scores[2], late=False) + 1  # third in a row earns the bonus


async def test_weekly_recap_posts_once_with_a_chart(team: Team) -> None:
    await a_week(team)
    await run_day(team, 7, {"alice": GOOD})  # next Monday: first scheduled day of the week
    recaps = team.chat.of("recap")
    assert len(recaps) == 1
    recap = recaps[0].message
    assert recap is not None
    image = next(b for b in recap.blocks if isinstance(b, Image))
    assert image.png.startswith(b"\x89PNG") and "answers per day" in image.alt and "Mon 3" in image.alt
    assert "Alice" in recap.text()
    # Firing again (another replica, a restart) does not post it twice.
    await team.bot.recap.maybe_post(team.channel_id, dt.date(2026, 3, 9))
    assert len(team.chat.of("recap")) == 1


async def test_recap_waits_for_the_first_scheduled_day_after_a_holiday(team: Team) -> None:
    await team.command("admin", "schedule", "set", "holidays", "DE", admin=True)
    channel = await team.channel()
    from bot.recap import is_first_scheduled_day_of_week

    # Easter Monday 2026-04-06 is a German holiday: the week's first scheduled day is Tuesday.
    assert not is_first_scheduled_day_of_week(channel, dt.date(2026, 4, 6))
    assert is_first_scheduled_day_of_week(channel, dt.date(2026, 4, 7))


async def test_manager_report_and_csv_export_match_grades(team: Team) -> None:
    await a_week(team)
    team.clock.set(MONDAY_9 + dt.timedelta(days=4, hours=10))
    refused = await team.command("bob", "report")
    assert "admins" in refused.message.text()
    report = await team.command("admin", "report", "week", admin=True)
    text = report.message.text()
    assert report.private and "Participation: 73%" in text  # 11 answers / (5 questions x 3 people)
    assert "Alice: 5 answers" in text and "streak 5" in text
    assert "deployment-strategies" in text

    export = await team.command("admin", "export", "csv", admin=True)
    file = next(b for b in export.message.blocks if isinstance(b, Attachment))
    rows = list(csv.DictReader(io.StringIO(file.data.decode())))
    async with team.bot.sessions() as session:
        graded = (
            await session.execute(
                select(Answer.id, GradeRow.score)
                .join(GradeRow, GradeRow.answer_id == Answer.id)
                .where(GradeRow.current.is_(True))
            )
        ).all()
    assert sorted((int(r["answer_id"]), float(r["score"])) for r in rows) == sorted(graded)
    assert len(rows) == 11

    await team.command("admin", "schedule", "set", "details", "off", admin=True)
    hidden = (await team.command("admin", "report", "week", admin=True)).message.text()
    assert "Alice: 5 answers" not in hidden and "turned off" in hidden


async def test_schedule_changes_persist_and_move_the_cron_job(team: Team) -> None:
    assert "admins" in (await team.command("bob", "schedule", "set", "time", "10:00")).message.text()
    reply = await team.command("admin", "schedule", "set", "time", "10:15", admin=True)
    assert "10:15" in reply.message.text()
    await team.command("admin", "schedule", "set", "timezone", "Asia/Tokyo", admin=True)
    await team.command("admin", "schedule", "set", "days", "mon,wed,fri", admin=True)
    bad = await team.command("admin", "schedule", "set", "timezone", "Mars/Base", admin=True)
    assert "unknown timezone" in bad.message.text()
    channel = await team.channel()
    assert (channel.post_time, channel.timezone, channel.weekdays) == ("10:15", "Asia/Tokyo", "mon,wed,fri")
    job = next(j for j in team.bot.scheduler._aps.get_jobs() if j.id == f"post:{team.channel_id}")
    nxt = job.trigger.get_next_fire_time(None, dt.datetime(2026, 3, 3, 0, 0, tzinfo=dt.UTC))
    assert nxt == dt.datetime(2026, 3, 4, 1, 15, tzinfo=dt.UTC)  # Wednesday 10:15 in Tokyo
    shown = (await team.command("admin", "schedule", admin=True)).message.text()
    assert "10:15 Asia/Tokyo" in shown


async def test_pause_skip_and_resume(team: Team) -> None:
    await team.command("admin", "schedule", "pause", admin=True)
    team.clock.set(MONDAY_9 + dt.timedelta(seconds=5))
    await team.bot.scheduler.fire(team.channel_id)
    assert team.chat.posts() == []
    await team.command("admin", "schedule", "resume", admin=True)
    await team.command("admin", "schedule", "skip", "2026-03-03", admin=True)
    team.clock.set(MONDAY_9 + dt.timedelta(days=1, seconds=5))
    await team.bot.scheduler.fire(team.channel_id)
    assert team.chat.posts() == []
    team.clock.set(MONDAY_9 + dt.timedelta(days=2, seconds=5))
    await team.bot.scheduler.fire(team.channel_id)
    assert len(team.chat.posts()) == 1


async def test_topics_limit_the_questions(team: Team) -> None:
    bad = await team.command("admin", "topics", "set", "cooking", admin=True)
    assert "Unknown topic" in bad.message.text()
    await team.command("admin", "topics", "set", "database-migrations", admin=True)
    for day in range(3):
        team.clock.set(MONDAY_9 + dt.timedelta(days=day, seconds=5))
        posted = await team.post_today(question_id=None)
        assert posted is not None and posted.question_id == "test-expand-contract"


async def test_streak_reminder_once_and_opt_out(team: Team) -> None:
    await team.command("admin", "topics", "set", "deployment-strategies", admin=True)
    await team.command("admin", "schedule", "set", "reminders", "3", admin=True)
    await run_day(team, 0, {"alice": GOOD, "bob": OK})
    await run_day(team, 1, {"alice": GOOD, "bob": OK})
    team.clock.set(MONDAY_9 + dt.timedelta(days=2, seconds=5))
    await team.bot.scheduler.fire(team.channel_id)
    await team.command("bob", "reminders", "off")
    team.clock.advance(hours=5, minutes=30)  # 2.5 h before close
    assert await team.bot.reminders.send_due() == 1
    assert await team.bot.reminders.send_due() == 0
    reminder = team.chat.private_to("alice")[-1]
    assert "reminder" in reminder.tags and "2-question streak" in reminder.text()
    assert not [s for s in team.chat.private_to("bob") if "reminder" in s.tags]


async def test_admin_sets_and_regrades_with_points_following(team: Team) -> None:
    await team.post_today()
    await team.answer("alice", WEAK)
    await team.grade()
    async with team.bot.sessions() as session:
        answer_id = (await session.execute(select(Answer.id))).scalar_one()
    assert f"answer #{answer_id}" in team.chat.private_to("alice")[-1].text()
    assert "admins" in (await team.command("alice", "grade", "set", str(answer_id), "10")).message.text()
    reply = await team.command("admin", "grade", "set", str(answer_id), "9", "explained", "well", "in", "person", admin=True)
    assert "9/10" in reply.message.text()
    await team.grade()
    async with team.bot.sessions() as session:
        total = (await session.execute(select(func.sum(ScoreEvent.points)))).scalar_one()
        manual = (await session.execute(select(GradeRow).where(GradeRow.current.is_(True)))).scalar_one()
    assert total == 10 and manual.set_by == "admin" and manual.reason == "explained well in person" and manual.grader == "manual"
    assert "9/10" in team.chat.private_to("alice")[-1].text()

    await team.command("admin", "regrade", str(answer_id), admin=True)
    async with team.bot.sessions() as session:
        grades = (await session.execute(select(GradeRow).order_by(GradeRow.id))).scalars().all()
        total = (await session.execute(select(func.sum(ScoreEvent.points)))).scalar_one()
    assert [g.current for g in grades] == [False, False, True] and grades[-1].attempt_key == "regrade:3"
    assert total == points_for(grades[-1].score, late=False, streak=1)
    missing = await team.command("admin", "regrade", "99999", admin=True)
    assert "no answer #99999" in missing.message.text()


class EditedWhileGrading:
    """The offline grader, but the person edits their answer while the next grade is computed."""

    name = "offline"

    def __init__(self, bank: QuestionBank):
        self._offline = offline_grader_for(bank)
        self.during_next: Callable[[], Awaitable[object]] | None = None

    async def grade(self, question: Question, answer_text: str) -> Grade:
        if self.during_next is not None:
            edit, self.during_next = self.during_next, None
            await edit()
        return await self._offline.grade(question, answer_text)


async def test_regrade_of_an_answer_edited_meanwhile_stores_nothing(
    db_url: str, test_bank: QuestionBank, clock: FrozenClock, chat: FakeChat
) -> None:
    grader = EditedWhileGrading(test_bank)
    team = await Team.create(db_url, test_bank, clock, chat, grader=grader)
    try:
        await team.post_today()
        await team.answer("alice", WEAK, source_id="a1")
        await team.grade()
        async with team.bot.sessions() as session:
            answer_id = (await session.execute(select(Answer.id))).scalar_one()
        grader.during_next = lambda: team.edit("alice", "a1", GOOD)
        reply = await team.command("admin", "regrade", str(answer_id), admin=True)
        assert "edited while it was regraded" in reply.message.text()
        async with team.bot.sessions() as session:
            assert len((await session.execute(select(GradeRow))).scalars().all()) == 1  # the old text's grade was not stored
            assert (await session.get(Answer, answer_id)).status == "pending"  # type: ignore[union-attr]
        await team.grade()  # the edited text is graded as usual
        async with team.bot.sessions() as session:
            current = (await session.execute(select(GradeRow).where(GradeRow.current.is_(True)))).scalar_one()
            answer = await session.get(Answer, answer_id)
        assert answer is not None and current.revision == answer.revision == 2
    finally:
        await team.close()


async def test_workspace_and_team_boards(team: Team) -> None:
    await run_day(team, 0, {"alice": GOOD, "bob": WEAK})
    workspace = (await team.command("dave", "leaderboard", "workspace")).message.text()
    assert "Alice" in workspace and "Bob" in workspace
    teams = (await team.command("dave", "leaderboard", "teams")).message.text()
    assert "#team" in teams and "2 people" in teams


async def test_a_sent_reminder_is_not_claimed_again_on_later_sweeps(team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    await team.command("admin", "schedule", "set", "reminders", "3", admin=True)
    await run_day(team, 0, {"alice": GOOD})
    await run_day(team, 1, {"alice": GOOD})
    team.clock.set(MONDAY_9 + dt.timedelta(days=2, seconds=5))
    await team.bot.scheduler.fire(team.channel_id)
    team.clock.advance(hours=5, minutes=30)
    assert await team.bot.reminders.send_due() == 1
    claims: list[str] = []
    claim = team.bot.reminders._claim

    async def counting(channel_id: int, period: str, now: dt.datetime) -> bool:
        claims.append(period)
        return await claim(channel_id, period, now)

    monkeypatch.setattr(team.bot.reminders, "_claim", counting)
    assert await team.bot.reminders.send_due() == 0
    assert claims == []  # no write attempted for a reminder already sent
