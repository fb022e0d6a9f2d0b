"""A team with two weeks of history for the dashboard tests (HTTP and browser) and the README
screenshots: five daily questions, four people (one with a hostile display name), all but the
last revealed. Links come from the real `dashboard` command on the fake chat."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from typing import Any

from sqlalchemy import select

from bot.events import AnswerPosted, MessageRef, Person
from bot.leaderboard import week_start
from content.loader import QuestionBank
from storage.models import Answer, GradeRow, Post
from tests.fake_chat import FakeChat
from tests.harness import PLACE, Team

HOSTILE = "<img src=x onerror=alert(1)>"
START = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)  # Monday 09:00 in Berlin, as the `clock` fixture
PARTIAL = {
    "test-canary": "I would route a small percentage of traffic to the new version with the load balancer and watch the error rate.",
    "test-expand-contract": "I would add the new column first and keep the old one until every reader has moved over to it.",
}
WEAK = "I would deploy it carefully during the day and see if anything breaks, then fix it quickly if it does."
# (days after START, question, who answers how); the last post stays open.
PLAN: list[tuple[int, str, dict[str, str]]] = [
    (0, "test-canary", {"alice": "model", "bob": "partial", "carol": "weak", "mallory": "partial"}),
    (1, "test-expand-contract", {"alice": "model", "bob": "weak", "mallory": "model"}),
    (2, "test-canary", {"alice": "model", "bob": "partial", "carol": "partial"}),
    (7, "test-expand-contract", {"alice": "partial", "carol": "weak", "mallory": "weak"}),
    (8, "test-canary", {"alice": "model", "bob": "partial"}),
]
URL = re.compile(r"https?://\S+/dashboard/\S+/")


def person(name: str) -> Person:
    if name == "mallory":
        return Person(PLACE.platform, PLACE.workspace, "mallory", HOSTILE)
    return Person(PLACE.platform, PLACE.workspace, name, name.title())


async def start_team(db_url: str, bank: QuestionBank, port: int, **overrides: Any) -> Team:
    """A RepBot with its HTTP server on `port` (the dashboard's), on the fake chat."""
    from bot.clock import FrozenClock

    settings = {"http_port": port, "public_url": f"http://127.0.0.1:{port}", **overrides}
    team = await Team.create(db_url, bank, FrozenClock(START), FakeChat(), **settings)
    await team.bot.start(schedule=False, grade_in_background=False)
    return team


async def seed_history(team: Team, bank: QuestionBank) -> None:
    for n, (offset, question_id, answers) in enumerate(PLAN):
        team.clock.set(START + dt.timedelta(days=offset))
        posted = await team.post_today(question_id)
        assert posted is not None
        question = bank.get(question_id)
        assert question is not None
        for who, kind in answers.items():
            text = {"model": question.model_answer, "partial": PARTIAL[question_id], "weak": WEAK}[kind]
            source = f"{who}-{n}"
            await team.bot.handle(AnswerPosted(person(who), text, source, MessageRef(PLACE, source, team.thread)))
        await team.grade()
        if n < len(PLAN) - 1:
            await team.bot.daily.close_open(team.channel_id)
    team.clock.advance(hours=2)  # Tuesday of the second week, the last question still open


async def dashboard_link(team: Team, *args: str) -> str:
    """The link the real `/repbot dashboard` command replies with (privately)."""
    reply = await team.command("boss", "dashboard", *args, admin=True)
    assert reply.private
    found = URL.search(reply.message.text())
    assert found, reply.message.text()
    return found.group(0)


async def heatmap_from_db(team: Team, bank: QuestionBank) -> dict[tuple[str, str], tuple[float, int]]:
    """(category, week start ISO) -> (average grade, answers), straight from the tables: daily
    posts' in-time, not deleted answers with their current grade."""
    async with team.bot.sessions() as session:
        rows = (
            await session.execute(
                select(Post.day, Answer.question_id, GradeRow.score)
                .join(Answer, Answer.post_id == Post.id)
                .join(GradeRow, (GradeRow.answer_id == Answer.id) & GradeRow.current.is_(True))
                .where(Post.channel_id == team.channel_id, Post.slot == 0, Answer.late.is_(False), Answer.status != "deleted")
            )
        ).all()
    cells: dict[tuple[str, str], list[float]] = defaultdict(list)
    for day, question_id, score in rows:
        question = bank.get(question_id)
        assert question is not None
        cells[(question.category.value, week_start(day).isoformat())].append(score)
    return {k: (sum(v) / len(v), len(v)) for k, v in cells.items()}
