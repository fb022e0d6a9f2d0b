"""The daily flow as a conversation: post, answers in the thread, grades, reveal, leaderboard."""

from __future__ import annotations

from sqlalchemy import func, select, update

from bot.intake import Outcome
from bot.scoring import points_for
from storage.models import Answer, GradeRow, Post, ScoreEvent
from tests.harness import Team

GOOD = (
    "I would send a small percentage of traffic, about 1%, to the canary through the service mesh and run a "
    "baseline of the old version side by side at the same time. I watch the error rate and p99 latency, and "
    "the controller rolls back automatically, setting the weight to zero, when the canary is worse."
)
WEAK = "I would deploy it to a few servers and look at the graphs to see whether it is fine, then continue."


async def test_question_answer_feedback_and_leaderboard(team: Team) -> None:
    posted = await team.post_today()
    assert posted is not None
    assert team.chat.posts()[-1].tags == {"question"}

    result = await team.answer("alice", GOOD)
    assert result.outcome is Outcome.STORED
    assert team.chat.reactions()[-1].emoji == "eyes"

    await team.answer("bob", WEAK)
    await team.grade()

    alice_feedback = team.chat.private_to("alice")[-1]
    assert "feedback" in alice_feedback.tags
    assert alice_feedback.thread == team.thread
    bob_feedback = team.chat.private_to("bob")[-1].text()
    assert "Missed:" in bob_feedback

    board = (await team.command("carol", "leaderboard")).message.text()
    assert board.index("Alice") < board.index("Bob")


async def test_same_message_delivered_four_times_is_one_answer(team: Team) -> None:
    await team.post_today()
    outcomes = [(await team.answer("alice", GOOD, source_id="slack-ts-1")).outcome for _ in range(4)]
    assert outcomes == [Outcome.STORED, Outcome.DUPLICATE, Outcome.DUPLICATE, Outcome.DUPLICATE]
    await team.grade()
    async with team.bot.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(Answer))).scalar_one() == 1
        assert (await session.execute(select(func.count()).select_from(GradeRow))).scalar_one() == 1
        points = (await session.execute(select(func.sum(ScoreEvent.points)))).scalar_one()
    assert points == points_for(float(team.chat.private_to("alice")[-1].text().split("/10")[0]), late=False, streak=1)


async def test_split_messages_merge_into_one_answer(team: Team) -> None:
    await team.post_today()
    first_half, second_half = GOOD[:150], GOOD[150:]
    await team.answer("alice", first_half)
    await team.answer("alice", second_half)
    await team.grade()
    async with team.bot.sessions() as session:
        answers = (await session.execute(select(Answer))).scalars().all()
        grades = (await session.execute(select(GradeRow))).scalars().all()
    assert len(answers) == 1 and answers[0].text == first_half + "\n" + second_half
    assert len(grades) == 1 and grades[0].revision == answers[0].revision


async def test_answer_outside_a_question_thread_is_not_an_answer(team: Team) -> None:
    await team.post_today()
    result = await team.answer("alice", GOOD, thread="some-other-thread")
    assert result.outcome is Outcome.NOT_AN_ANSWER
    assert team.chat.reactions() == []


async def test_answer_after_close_is_kept_marked_late_and_worth_nothing(team: Team) -> None:
    await team.post_today()
    team.clock.advance(hours=9)
    assert await team.bot.daily.close_due() == 1
    reveal = team.chat.of("reveal")[-1]
    assert reveal.thread == team.thread and "Model answer" in reveal.text()

    result = await team.answer("alice", GOOD)
    assert result.outcome is Outcome.STORED and result.late
    await team.grade()
    assert "late answer" in team.chat.private_to("alice")[-1].text()
    board = (await team.command("alice", "leaderboard", "all")).message.text()
    assert "No points yet" in board


async def test_edit_regrades_and_delete_removes_points(team: Team) -> None:
    await team.post_today()
    await team.answer("alice", WEAK, source_id="a1")
    await team.grade()
    weak_score = float(team.chat.private_to("alice")[-1].text().split("/10")[0])

    await team.edit("alice", "a1", GOOD)
    await team.grade()
    good_score = float(team.chat.private_to("alice")[-1].text().split("/10")[0])
    assert good_score > weak_score
    async with team.bot.sessions() as session:
        grades = (await session.execute(select(GradeRow).order_by(GradeRow.id))).scalars().all()
        assert [g.current for g in grades] == [False, True]

    await team.delete("alice", "a1")
    async with team.bot.sessions() as session:
        total = (await session.execute(select(func.sum(ScoreEvent.points)))).scalar_one()
        answers = (await session.execute(select(func.sum(ScoreEvent.answers)))).scalar_one()
    assert (total, answers) == (0, 0)
    assert "No points yet" in (await team.command("bob", "leaderboard", "all")).message.text()


async def test_reveal_summary_counts_and_averages(team: Team) -> None:
    await team.post_today()
    await team.answer("alice", GOOD)
    await team.answer("bob", WEAK)
    await team.grade()
    reply = await team.command("admin", "reveal", admin=True)
    assert reply.message.text() == "Revealed."
    reveal = team.chat.of("reveal")[-1].text()
    assert "Answers: 2" in reveal and "Average:" in reveal and "Alice" in reveal


async def test_reveal_is_admin_only(team: Team) -> None:
    await team.post_today()
    reply = await team.command("mallory", "reveal", admin=False)
    assert "admins" in reply.message.text()
    async with team.bot.sessions() as session:
        assert (await session.execute(select(Post.status))).scalar_one() == "open"


async def test_no_repeat_until_the_bank_is_exhausted(team: Team) -> None:
    seen = []
    for _ in range(6):
        posted = await team.post_today(question_id=None)
        assert posted is not None
        seen.append(posted.question_id)
        team.clock.advance(days=1)
    size = len(team.bot.bank)
    assert len(set(seen[:size])) == size
    assert len(set(seen[size : 2 * size])) == size


async def test_question_command_posts_when_nothing_is_open(team: Team) -> None:
    reply = await team.command("alice", "question")
    assert "Posted" in reply.message.text()
    again = await team.command("alice", "question")
    assert "open" in again.message.text()
    assert len(team.chat.posts()) == 1


async def test_oversized_answer_is_kept_up_to_the_cap_with_a_note(team: Team) -> None:
    await team.post_today()
    huge = (GOOD + " ") * 200  # ~70,000 characters
    result = await team.answer("alice", huge)
    assert result.outcome is Outcome.STORED and result.truncated_from == len(huge)
    note = team.chat.private_to("alice")[-1].text()
    assert f"{len(huge):,}" in note and "20,000" in note
    async with team.bot.sessions() as session:
        stored = (await session.execute(select(Answer))).scalar_one()
    assert len(stored.text) == 20_000 and stored.truncated
    await team.grade()
    assert "feedback" in team.chat.private_to("alice")[-1].tags


async def test_unknown_command_says_what_to_do(team: Team) -> None:
    reply = await team.command("alice", "frobnicate")
    assert "help" in reply.message.text()


async def test_an_edit_arriving_after_the_delete_does_not_bring_the_answer_back(team: Team) -> None:
    await team.post_today()
    await team.answer("alice", GOOD, source_id="a1")
    await team.delete("alice", "a1")
    result = await team.edit("alice", "a1", WEAK)  # a late or redelivered edit
    assert result.outcome is Outcome.IGNORED
    async with team.bot.sessions() as session:
        answer = (await session.execute(select(Answer))).scalar_one()
    assert answer.status == "deleted"


async def test_a_message_already_stored_under_another_post_is_a_duplicate_there(team: Team) -> None:
    await team.post_today()
    await team.answer("alice", GOOD, source_id="m1")
    team.clock.advance(days=1)
    await team.post_today()
    result = await team.answer("alice", GOOD, source_id="m1")  # the same message id in the new thread
    assert result.outcome is Outcome.DUPLICATE
    async with team.bot.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(Answer))).scalar_one() == 1


async def test_feedback_not_yet_delivered_for_an_answer_edited_since_is_not_sent(team: Team) -> None:
    await team.post_today()
    await team.answer("alice", WEAK, source_id="a1")
    await team.grade()
    assert len(team.chat.private_to("alice")) == 1
    await team.edit("alice", "a1", GOOD)
    async with team.bot.sessions() as session, session.begin():  # the old grade's delivery still pending
        await session.execute(update(Answer).values(notify_pending=True))
    await team.bot.notifier.deliver_pending()
    assert len(team.chat.private_to("alice")) == 1  # not the stale grade
    await team.grade()
    assert len(team.chat.private_to("alice")) == 2 and "/10" in team.chat.private_to("alice")[-1].text()
