"""Leaderboard integrity: after feedback went out, more messages improve the feedback, not the points."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.models import ScoreEvent
from tests.harness import Team

GOOD = (
    "I would send a small percentage of traffic, about 1%, to the canary through the service mesh and run a "
    "baseline of the old version side by side at the same time. I watch the error rate and p99 latency, and "
    "the controller rolls back automatically, setting the weight to zero, when the canary is worse."
)
WEAK = "I would deploy it to a few servers and look at the graphs to see whether it is fine, then continue."


def score_of(text: str) -> float:
    return float(text.split("/10")[0])


async def points(team: Team) -> int:
    async with team.bot.sessions() as session:
        return int((await session.execute(select(func.coalesce(func.sum(ScoreEvent.points), 0)))).scalar_one())


async def test_a_message_after_feedback_regrades_but_keeps_the_points(team: Team) -> None:
    await team.post_today()
    await team.answer("alice", WEAK)
    await team.grade()
    first = team.chat.private_to("alice")[-1].text()
    points_then = await points(team)

    await team.answer("alice", GOOD)  # the learning loop: the feedback's points, written up properly
    await team.grade()
    second = team.chat.private_to("alice")[-1].text()
    assert score_of(second) > score_of(first)
    assert await points(team) == points_then
    assert "points stay" in second


async def test_split_messages_before_feedback_still_count(team: Team) -> None:
    await team.post_today()
    await team.answer("alice", WEAK)
    await team.answer("alice", GOOD)  # before any grade: one answer, graded whole
    await team.grade()
    text = team.chat.private_to("alice")[-1].text()
    assert "points stay" not in text
    assert await points(team) > 0


async def test_an_edit_after_feedback_keeps_the_points(team: Team) -> None:
    await team.post_today()
    await team.answer("alice", WEAK, source_id="m1")
    await team.grade()
    points_then = await points(team)
    await team.edit("alice", "m1", GOOD)
    await team.grade()
    assert await points(team) == points_then
