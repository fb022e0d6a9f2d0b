"""Issue 15, in the core: what a new user hit in the first hour (on the fake chat, SQLite and
PostgreSQL). The console's side of the same items, as real processes, is tests/test_console_first_hour.py."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math

from sqlalchemy import select

from bot.clock import FrozenClock
from bot.events import CommandInvoked, DirectMessage, Person, Place
from bot.messages import Attachment, Image
from content.loader import QuestionBank
from storage.models import Answer, Post
from tests.fake_chat import FakeChat
from tests.harness import Team
from tests.test_interview import STRONG, make_bot
from tests.test_team_week import GOOD, a_week

# -- 1. an interview started in a server keeps getting the person's DMs, also after a restart --


async def test_interview_started_in_a_server_continues_by_dm_after_a_restart(
    db_url: str, test_bank: QuestionBank, clock: FrozenClock
) -> None:
    # Discord: the command comes from a guild (workspace = guild id), the DMs from no guild ("@me").
    in_server = Person("discord", "111", "42", "Alice")
    in_dm = Person("discord", "@me", "42", "Alice")
    first_chat = FakeChat()
    first = await make_bot(db_url, test_bank, clock, first_chat)
    await first.handle(CommandInvoked(Place("discord", "111", "C1"), in_server, "interview", ("pipeline-design", "1")))
    await first.stop()

    chat = FakeChat()
    restarted = await make_bot(db_url, test_bank, clock, chat)
    try:
        dm = Place("discord", "@me", "D1", is_dm=True)
        assert await restarted.interviews.in_interview(in_dm)
        reply = await restarted.handle(DirectMessage(in_dm, "repeat", "dm-1", dm))
        assert reply is None  # answered by DM, not with "Hi! Daily questions are answered in..."
        questions = [s for s in chat.transcript if "interview-question" in s.tags]
        assert questions and "Catching a bad release with a canary" in questions[-1].text()
        await restarted.handle(DirectMessage(in_dm, STRONG["Catching a bad release with a canary"], "dm-2", dm))
        await restarted.handle(DirectMessage(in_dm, "done", "dm-3", dm))
        await restarted.worker.run_until_idle()
        assert [s for s in chat.transcript if "interview-scorecard" in s.tags]
    finally:
        await restarted.stop()


# -- 3. exports carry the answer, its grade, grader, feedback and times --------------------------


async def test_export_rows_carry_text_grade_grader_feedback_and_times(team: Team) -> None:
    await team.post_today()
    await team.answer("alice", GOOD)
    await team.answer("mallory", '=HYPERLINK("http://evil") rolls back with a canary and a baseline of the old version.')
    await team.grade()
    csv_reply = await team.command("admin", "export", admin=True)
    attachment = next(b for b in csv_reply.message.blocks if isinstance(b, Attachment))
    assert attachment.filename == "repbot-C1-2026-03-02.csv"  # today's date, not 1970
    assert "2 answers in all" in csv_reply.message.text()
    rows = {r["user_id"]: r for r in csv.DictReader(io.StringIO(attachment.data.decode()))}
    alice = rows["alice"]
    assert alice["answer"] == GOOD
    assert float(alice["score"]) > 0 and alice["grader"] == "offline" and alice["feedback"]
    assert alice["received_at"].startswith("2026-03-02") and alice["graded_at"].startswith("2026-03-02")
    assert rows["mallory"]["answer"].startswith("'=HYPERLINK")  # still formula-safe

    json_reply = await team.command("admin", "export", "json", "since", "2026-03-01", admin=True)
    attachment = next(b for b in json_reply.message.blocks if isinstance(b, Attachment))
    assert attachment.filename == "repbot-C1-2026-03-02-since-2026-03-01.json"
    data = {r["user_id"]: r for r in json.loads(attachment.data)}
    assert data["alice"]["answer"] == GOOD and data["alice"]["feedback"] == alice["feedback"]
    assert data["alice"]["score"] == float(alice["score"]) and data["alice"]["graded_at"] == alice["graded_at"]


# -- 4. recap on demand, the day's slot before its time, the chart -------------------------------


async def test_recap_command_shows_the_current_week_to_admins(team: Team) -> None:
    await a_week(team)
    refused = await team.command("bob", "recap")
    assert "for RepBot admins" in refused.message.text()
    reply = await team.command("admin", "recap", admin=True)
    text = reply.message.text()
    assert "Weekly recap — week of 02 Mar 2026" in text and "Alice" in text and "this week so far" in text
    assert any(isinstance(b, Image) and b.png.startswith(b"\x89PNG") for b in reply.message.blocks)
    team.clock.advance(days=7)  # a week without answers
    empty = await team.command("admin", "recap", admin=True)
    assert "Nothing to recap" in empty.message.text()
    # Slack passes `/repbot recap` to the same table; Discord registers a subcommand from it.
    from adapters.discord.commands import subcommands

    recap = next(s for s in subcommands(team.bot.commands.table) if s.name == "recap")
    assert recap.description.startswith("Admin: ")


async def test_a_question_asked_for_before_post_time_leaves_the_days_slot_and_recap(team: Team) -> None:
    await a_week(team)
    # Next Monday at 07:00 Berlin, before the 09:00 post: someone asks for a question.
    team.clock.set(dt.datetime(2026, 3, 9, 6, 0, tzinfo=dt.UTC))
    await team.command("alice", "question")
    extra = team.chat.posts()[-1]
    assert "streaks follow the scheduled daily question" in extra.text()
    await team.bot.daily.close_open(team.channel_id)
    # At post time the scheduled question still comes, and the recap after it.
    team.clock.set(dt.datetime(2026, 3, 9, 8, 0, 5, tzinfo=dt.UTC))
    await team.bot.scheduler.fire(team.channel_id)
    async with team.bot.sessions() as session:
        slots = (await session.execute(select(Post.slot).where(Post.day == dt.date(2026, 3, 9)).order_by(Post.id))).all()
    assert [s for (s,) in slots] == [1, 0]
    assert len(team.chat.of("recap")) == 1


async def test_the_days_question_asked_for_after_post_time_counts_and_brings_the_recap(team: Team) -> None:
    await a_week(team)
    team.clock.set(dt.datetime(2026, 3, 9, 14, 0, tzinfo=dt.UTC))  # the scheduler missed the morning
    await team.command("alice", "question")
    async with team.bot.sessions() as session:
        post = (await session.execute(select(Post).where(Post.day == dt.date(2026, 3, 9)))).scalar_one()
    assert post.slot == 0 and "streaks follow" not in team.chat.posts()[-1].text()
    assert len(team.chat.of("recap")) == 1


def test_week_chart_has_whole_number_ticks_a_legend_and_gaps() -> None:
    from bot.charts import week_figure

    days = [dt.date(2026, 3, 2) + dt.timedelta(days=i) for i in range(7)]
    figure = week_figure(days, [2, 0, 5, 0, 1, 0, 0], [7.5, None, 6.0, None, 8.0, None, None], "Last week")
    bars_axis, line_axis = figure.axes
    figure.canvas.draw()
    ticks = bars_axis.get_yticks()
    assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks)
    legend = bars_axis.get_legend()
    assert legend is not None and [t.get_text() for t in legend.get_texts()] == ["answers", "average score"]
    ys = list(line_axis.get_lines()[0].get_ydata())
    assert len(ys) == 7 and math.isnan(ys[1]) and ys[2] == 6.0  # Tuesday is a gap, not a bridge


# -- 7. an extra question says why it brings no streak ------------------------------------------


async def test_extra_question_feedback_says_it_has_no_streak(team: Team) -> None:
    await team.post_today()
    await team.bot.daily.close_open(team.channel_id)
    posted = await team.bot.daily.post_extra(team.channel_id, "test-canary")
    assert posted is not None and not posted.daily
    team.thread = posted.ref.thread_id
    await team.answer("alice", GOOD)
    await team.grade()
    feedback = team.chat.private_to("alice")[-1].text()
    assert "(extra question: no streak)" in feedback


# -- 10. wording and a past skip day --------------------------------------------------------------


async def test_counts_read_as_words_and_admin_grades_say_so(team: Team) -> None:
    await team.post_today()
    await team.answer("alice", "I would watch the graphs.")
    await team.grade()
    board = (await team.command("alice", "leaderboard", "all")).message.text()
    assert "(1 answer)" in board and "1 answers" not in board and " 1 pts" not in board
    async with team.bot.sessions() as session:
        answer_id = (await session.execute(select(Answer.id))).scalar_one()
    await team.bot.grades.set_grade(answer_id, 0, "admin", "checked by hand")
    feedback = team.chat.private_to("alice")[-1].text()
    assert "graded by manual" not in feedback and "grade set by an admin" in feedback
    assert "+1 point" in feedback and "+1 points" not in feedback
    board = (await team.command("alice", "leaderboard", "all")).message.text()
    assert "1 pt (1 answer)" in board


async def test_skipping_a_day_that_has_passed_is_refused(team: Team) -> None:
    past = await team.command("admin", "schedule", "skip", "2020-01-01", admin=True)
    assert "has already passed" in past.message.text()
    assert (await team.channel()).skip_days == []
    later = await team.command("admin", "schedule", "skip", "2026-03-03", admin=True)
    assert "Skipping Tue 03 Mar 2026" in later.message.text()
