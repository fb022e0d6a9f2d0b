"""DM mock interviews as transcripts on the fake chat (SQLite and PostgreSQL).

The test bank has three questions: test-canary (pipeline-design; authored follow-ups on
`baseline` and `rollback`), test-expand-contract (incident-process) and test-reference-only
(concept, no rubric). Grading is the deterministic offline grader.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bot.app import RepBot, offline_grader_for
from bot.clock import FrozenClock
from bot.commands import Reply
from bot.config import Settings
from bot.events import CommandInvoked, DirectMessage, Person, Place
from bot.grading.errors import GradingUnavailable
from content.loader import QuestionBank
from storage.db import transaction
from storage.models import Answer, AnswerMessage, GradeRow, Interview, ReviewItem, ScoreEvent
from tests.fake_chat import FakeChat, Said
from tests.harness import PLACE, Team

STRONG = {
    "Catching a bad release with a canary": (
        "I would send a small percentage of traffic, about 1%, to the new version with weighted routing in the load "
        "balancer or service mesh. A baseline of the old version runs side by side at the same time as a control group. "
        "The analysis compares the error rate, 5xx responses and p99 latency, and the controller will roll back "
        "automatically by setting the weight to zero and abort the release when the canary is worse."
    ),
    "Renaming a column without downtime": (
        "I would use expand and contract. An additive migration adds the new column first, then the release will write "
        "both columns with a dual write while a job will backfill old rows in batches. Then I switch reads to read from "
        "the new column, and only when no version uses the old one do I contract and drop the old column."
    ),
    "Why build once and promote": (
        "Rebuilding for each environment means production runs an artifact that was never tested, because compilers, "
        "dependencies and base images drift between builds. Building once and promoting the same immutable artifact by "
        "its digest guarantees that what passed staging is byte for byte what reaches production, makes rollbacks a "
        "redeploy of a known artifact and gives a clean audit trail from commit to release."
    ),
}
CANARY_WITHOUT_BASELINE = (
    "I would send a small percentage of traffic, about 1%, to the new version with weighted routing in the load "
    "balancer. The analysis watches the error rate and p99 latency, and the controller will roll back automatically "
    "by setting the weight to zero when the canary is worse."
)
BASELINE_FOLLOW_UP = (
    "A fresh baseline of the old version runs side by side at the same time as the canary, like a control group, "
    "so both see the same traffic and the same time of day."
)
WEAK = "I am not sure about this one; I would probably just test it more carefully before it goes out."


class Candidate:
    """One person talking to RepBot by DM; reads the DMs RepBot sent them."""

    def __init__(self, bot: RepBot, chat: FakeChat, name: str = "alice"):
        self.bot = bot
        self.chat = chat
        self.person = Person(PLACE.platform, PLACE.workspace, name, name.title())
        self._ids = itertools.count(1)

    async def say(self, text: str, source_id: str | None = None) -> Reply | None:
        dm = Place(PLACE.platform, PLACE.workspace, f"dm-{self.person.user_id}", is_dm=True)
        source = source_id or f"dm-{self.person.user_id}-{next(self._ids)}-{id(self.bot)}"
        return await self.bot.handle(DirectMessage(self.person, text, source, dm))

    async def command(self, *args: str, admin: bool = False) -> Reply:
        return await self.bot.handle(CommandInvoked(PLACE, self.person, "interview", tuple(args), is_admin=admin))

    async def grade(self) -> None:
        await self.bot.worker.run_until_idle()

    async def answer(self, text: str) -> None:
        await self.say(text)
        await self.say("done")
        await self.grade()

    def dms(self) -> list[Said]:
        return [s for s in self.chat.transcript if s.kind == "dm" and s.to == self.person]

    def of(self, tag: str) -> list[Said]:
        return [s for s in self.dms() if tag in s.tags]

    def last_question_title(self) -> str:
        header = self.of("interview-question")[-1].text().splitlines()[0]
        return header.split(": ", 1)[1]

    async def interview(self) -> Interview:
        async with self.bot.sessions() as session:
            return (await session.execute(select(Interview).order_by(Interview.id.desc()))).scalars().first()


async def make_bot(
    db_url: str, bank: QuestionBank, clock: FrozenClock, chat: FakeChat, grader: Any = None, **overrides: Any
) -> RepBot:
    values: dict[str, Any] = {"database_url": db_url, "quiet_period_seconds": 0, "grading_poll_seconds": 0.05}
    values.update(overrides)
    bot = RepBot(Settings(**values), chat, clock=clock, bank=bank, grader=grader)
    await bot.prepare()
    return bot


async def test_full_mixed_interview_by_dm(team: Team) -> None:
    alice = Candidate(team.bot, team.chat)
    reply = await alice.command("mixed", "3")
    assert reply.private and "Check your DMs" in reply.message.text()
    assert "interview-intro" in alice.dms()[0].tags
    titles = []
    for number in (1, 2, 3):
        title = alice.last_question_title()
        assert alice.of("interview-question")[-1].text().startswith(f"Question {number} of 3")
        titles.append(title)
        await alice.answer(STRONG[title])
    # The mixed rotation starts with the pipeline-design round; every question is asked once.
    assert titles[0] == "Catching a bad release with a canary" and sorted(titles) == sorted(STRONG)
    assert not alice.of("interview-follow-up")  # strong answers miss nothing heavy
    card = alice.of("interview-scorecard")[-1].text()
    assert card.startswith("Interview scorecard\n") and "(partial)" not in card
    for number, title in enumerate(titles, 1):
        assert f"{number}. {title} — " in card and "/10" in card
    assert "deployment-strategies" in card and "█" in card  # per-category bars
    assert "Strengths" in card and "Trend: First interview" in card
    interview = await alice.interview()
    assert interview.status == "finished" and interview.state["summary"]["average"] >= 6
    # Private: nothing in the channel, no points, every interview message went by DM.
    assert not team.chat.posts() and not [s for s in team.chat.transcript if s.kind in ("reply", "react")]
    assert all(s.kind == "dm" for s in team.chat.transcript)
    async with team.bot.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(ScoreEvent))).scalar_one() == 0
        answers = (await session.execute(select(Answer))).scalars().all()
    assert len(answers) == 3 and all(a.post_id is None and a.interview_id == interview.id for a in answers)
    assert {a.context for a in answers} == {f"interview:{interview.id}:{t}" for t in (1, 2, 3)}
    board = await team.command("bob", "leaderboard", "all")
    assert "No points yet" in board.message.text()


async def test_missed_heavy_criterion_gets_its_follow_up_and_recovers_score(team: Team) -> None:
    alice = Candidate(team.bot, team.chat)
    await alice.command("pipeline-design", "1")
    assert alice.last_question_title() == "Catching a bad release with a canary"
    await alice.answer(CANARY_WITHOUT_BASELINE)
    follow_ups = alice.of("interview-follow-up")
    assert len(follow_ups) == 1  # rollback was covered; only the missed heavy criterion is asked about
    assert "Why is a fresh baseline better than comparing with the current production fleet?" in follow_ups[0].text()
    base = float(alice.of("interview-graded")[-1].text().split(": ", 1)[1].split("/", 1)[0])
    await alice.answer(BASELINE_FOLLOW_UP)
    recovered_note = alice.of("interview-graded")[-1].text()
    assert "recovered" in recovered_note
    interview = await alice.interview()
    slot = interview.state["slots"][0]
    assert slot["base_score"] == base and slot["follow_ups"][0]["verdict"] == "hit"
    # Half of the criterion's share (weight 2 of 7) of 10 points comes back.
    assert slot["follow_ups"][0]["recovered"] == pytest.approx(10 * 2 / 7 * 0.5, abs=0.01)
    card = alice.of("interview-scorecard")[-1].text()
    final = round(min(10.0, base + slot["follow_ups"][0]["recovered"]), 1)
    assert final > base and f"{final:g}/10 ({base:g} + " in card
    async with team.bot.sessions() as session:
        follow_up = (await session.execute(select(Answer).where(Answer.context == f"interview:{interview.id}:2"))).scalar_one()
        grade = (await session.execute(select(GradeRow).where(GradeRow.answer_id == follow_up.id))).scalar_one()
    # The follow-up is graded against just that criterion.
    assert follow_up.question_id == "test-canary~baseline"
    assert [c["criterion_id"] for c in grade.criteria] == ["baseline"]


async def test_hint_pause_resume_skip_and_end(team: Team) -> None:
    alice = Candidate(team.bot, team.chat)
    assert await alice.say("interview mixed 3") is None  # started from a DM; everything comes by DM
    first = alice.last_question_title()
    await alice.say("hint")
    assert alice.dms()[-1].text() == "Hint: Where is a percentage split cheapest to change?"
    await alice.say("hint")
    assert "No more hints" in alice.dms()[-1].text()
    await alice.say("pause")
    assert "Paused" in alice.dms()[-1].text() and (await alice.interview()).status == "paused"
    await alice.say("Some words while paused should not become an answer.")
    assert "paused" in alice.dms()[-1].text()
    await alice.say("resume")
    assert alice.last_question_title() == first and (await alice.interview()).status == "active"
    await alice.say("skip")
    assert "Skipped." in alice.dms()[-2].text() and alice.of("interview-question")[-1].text().startswith("Question 2 of 3")
    await alice.say("repeat")
    assert alice.of("interview-question")[-1].text().startswith("Question 2 of 3")
    # Pausing while an answer is being graded: the grade lands, the next question waits for `resume`.
    await alice.say(STRONG[alice.last_question_title()])
    await alice.say("pause")
    await alice.grade()
    assert "Graded. The interview is paused" in alice.dms()[-1].text()
    assert alice.of("interview-question")[-1].text().startswith("Question 2 of 3")
    await alice.say("resume")
    assert alice.of("interview-question")[-1].text().startswith("Question 3 of 3")
    await alice.say("end")
    card = alice.of("interview-scorecard")[-1].text()
    assert "Interview scorecard (partial)" in card and "Ended early" in card
    assert f"1. {first} — skipped (0)" in card and "3. " in card and card.count("— not answered") == 1
    assert "1 hint" in card
    async with team.bot.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(Answer))).scalar_one() == 1


async def test_answer_merges_messages_until_done_or_quiet(db_url: str, test_bank: QuestionBank, clock: FrozenClock) -> None:
    chat = FakeChat()
    bot = await make_bot(db_url, test_bank, clock, chat, quiet_period_seconds=60)
    try:
        alice = Candidate(bot, chat)
        await alice.command("pipeline-design", "1")
        half = len(STRONG["Catching a bad release with a canary"]) // 2
        text = STRONG["Catching a bad release with a canary"]
        await alice.say(text[:half])
        assert "say `done`" in alice.dms()[-1].text()
        clock.advance(seconds=30)
        await alice.say(text[half:], source_id="second")
        await alice.say(text[half:], source_id="second")  # a redelivery is ignored
        clock.advance(seconds=31)
        await alice.grade()
        assert not alice.of("interview-graded")  # each message restarts the quiet period
        clock.advance(seconds=30)  # goes quiet: graded whole, without `done`
        await alice.grade()
        assert alice.of("interview-graded")
        async with bot.sessions() as session:
            answer = (await session.execute(select(Answer))).scalar_one()
            messages = (await session.execute(select(func.count()).select_from(AnswerMessage))).scalar_one()
        assert answer.revision == 2 and messages == 2 and answer.text == f"{text[:half]}\n{text[half:]}"
        assert len(alice.of("interview-received")) == 1
    finally:
        await bot.stop()


async def test_restart_mid_interview_resumes_at_the_same_question(
    db_url: str, test_bank: QuestionBank, clock: FrozenClock
) -> None:
    first_chat = FakeChat()
    first = await make_bot(db_url, test_bank, clock, first_chat)
    alice = Candidate(first, first_chat)
    await alice.command("mixed", "3")
    await alice.answer(STRONG[alice.last_question_title()])
    second_title = alice.last_question_title()
    # The second answer is stored and graded, but the process dies before the interview moved on.
    await alice.say(STRONG[second_title])
    jobs = await first.queue.claim(8)
    assert len(jobs) == 1
    assert await first.queue.complete(jobs[0], await first.offline.grade(test_bank.get(jobs[0].question_id), jobs[0].text))
    await first.stop()

    chat = FakeChat()
    restarted = await make_bot(db_url, test_bank, clock, chat)
    try:
        again = Candidate(restarted, chat)
        await again.say("repeat")
        assert again.last_question_title() == second_title
        assert again.of("interview-question")[-1].text().startswith("Question 2 of 3")
        assert await restarted.notifier.deliver_pending() == 1  # what start() does: the stored grade moves it on
        assert again.of("interview-graded") and again.of("interview-question")[-1].text().startswith("Question 3 of 3")
        await again.answer(STRONG[again.last_question_title()])
        card = again.of("interview-scorecard")[-1].text()
        assert "(partial)" not in card and card.count("/10") >= 3
    finally:
        await restarted.stop()


async def test_idle_interview_ends_with_a_partial_scorecard(db_url: str, test_bank: QuestionBank, clock: FrozenClock) -> None:
    chat = FakeChat()
    bot = await make_bot(db_url, test_bank, clock, chat, interview_idle_hours=2)
    try:
        alice = Candidate(bot, chat)
        await alice.command("mixed", "3")
        first = alice.last_question_title()
        await alice.answer(STRONG[first])
        clock.advance(hours=1, minutes=59)
        assert await bot.interviews.expire_idle() == 0
        clock.advance(minutes=2)
        assert await bot.interviews.expire_idle() == 1
        assert await bot.interviews.expire_idle() == 0
        card = alice.of("interview-scorecard")[-1].text()
        assert "Interview scorecard (partial)" in card and "without activity" in card
        assert f"1. {first} — " in card and "— not answered" in card and "Overall: " in card
        assert (await alice.interview()).status == "finished"
        reply = await alice.command()
        assert "Check your DMs" in reply.message.text()  # a new one can start
    finally:
        await bot.stop()


async def test_low_score_comes_back_in_interview_review_when_due(team: Team) -> None:
    alice = Candidate(team.bot, team.chat)
    await alice.command("pipeline-design", "1")
    await alice.answer(WEAK)
    # Split, baseline and rollback (the heavy ones) are all missed; the two with authored follow-ups are asked in turn.
    assert "fresh baseline" in alice.of("interview-follow-up")[-1].text()
    await alice.say("skip")
    assert "step by step, when the canary fails" in alice.of("interview-follow-up")[-1].text()
    await alice.say("skip")
    assert len(alice.of("interview-follow-up")) == 2
    card = alice.of("interview-scorecard")[-1].text()
    assert "review test-canary" in card and "Next review due" in card
    assert "Routes a small percentage of traffic" in card  # the gap names the missed criterion
    assert await team.bot.interviews.reviews_due(alice.person) == 0
    team.clock.advance(days=1, minutes=1)
    assert await team.bot.interviews.reviews_due(alice.person) == 1
    stats = await team.bot.handle(CommandInvoked(team.place, alice.person, "stats"))
    assert "1 mock-interview review due" in stats.message.text()
    reply = await alice.command("review")
    assert "Check your DMs" in reply.message.text()
    assert alice.dms()[-2].text().startswith("Review session")
    question = alice.of("interview-question")[-1].text()
    assert question.startswith("Question 1 of 1: Catching a bad release with a canary") and "from your review queue" in question
    # Passing the review pushes it further out (2 days after a first pass).
    await alice.answer(STRONG["Catching a bad release with a canary"])
    async with team.bot.sessions() as session:
        item = (await session.execute(select(ReviewItem))).scalar_one()
    assert item.repetitions == 1 and item.interval_days == 2 and item.reviews == 2
    assert await team.bot.interviews.reviews_due(alice.person) == 0


async def test_one_open_interview_per_person(team: Team) -> None:
    alice = Candidate(team.bot, team.chat)
    await alice.command("2")
    second = await alice.command("scripting")
    assert "already have an interview in progress (question 1 of 2)" in second.message.text()
    await alice.say("interview 3")
    assert "already have an interview in progress" in alice.dms()[-1].text()
    interview = await alice.interview()
    with pytest.raises(IntegrityError):  # the database holds the line too, across replicas
        async with transaction(team.bot.sessions) as session:
            session.add(
                Interview(
                    member_id=interview.member_id,
                    format="mixed",
                    status="active",
                    state={},
                    started_at=team.clock.now(),
                    updated_at=team.clock.now(),
                )
            )
    # Someone else is unaffected, and bad arguments get a usage line instead of an interview.
    bob = Candidate(team.bot, team.chat, "bob")
    assert "I don't know 'nonsense'" in (await bob.command("nonsense")).message.text()
    assert "Check your DMs" in (await bob.command("incident-process", "senior", "1")).message.text()
    assert bob.last_question_title() == "Renaming a column without downtime"


async def test_managers_see_counts_only_and_other_dms_get_help(team: Team) -> None:
    alice = Candidate(team.bot, team.chat)
    await alice.command("pipeline-design", "1")
    await alice.answer(CANARY_WITHOUT_BASELINE)
    denied = await Candidate(team.bot, team.chat, "boss").command("team")
    assert "for RepBot admins" in denied.message.text()
    counts = (await Candidate(team.bot, team.chat, "boss").command("team", admin=True)).message.text()
    assert counts == "Mock interviews in this workspace: 1 in progress, 0 finished, 1 answer graded."
    assert "alice" not in counts.lower() and "canary" not in counts.lower()
    hello = await Candidate(team.bot, team.chat, "carol").say("hello there")
    assert isinstance(hello, Reply) and "interview" in hello.message.text()


class FlakyGrader:
    """Unavailable until told otherwise, then the offline grader."""

    name = "flaky"

    def __init__(self, offline: Any):
        self.offline = offline
        self.down = True

    async def grade(self, question: Any, answer_text: str) -> Any:
        if self.down:
            raise GradingUnavailable("grader down", retry_after=30)
        return await self.offline.grade(question, answer_text)


async def test_grader_outage_delays_the_interview_without_losing_the_answer(
    sqlite_url: str, test_bank: QuestionBank, clock: FrozenClock
) -> None:
    chat = FakeChat()
    grader = FlakyGrader(offline_grader_for(test_bank))
    bot = await make_bot(sqlite_url, test_bank, clock, chat, grader=grader)
    try:
        alice = Candidate(bot, chat)
        await alice.command("pipeline-design", "1")
        await alice.answer(STRONG["Catching a bad release with a canary"])
        assert "Grading is delayed" in alice.dms()[-1].text() and not alice.of("interview-graded")
        grader.down = False
        clock.advance(seconds=31)
        await alice.grade()
        assert alice.of("interview-graded") and alice.of("interview-scorecard")
        assert len(alice.of("interview-delayed")) == 1  # told once
    finally:
        await bot.stop()


async def test_a_message_after_grading_is_merged_and_the_stale_grade_ignored(team: Team) -> None:
    alice = Candidate(team.bot, team.chat)
    await alice.command("pipeline-design", "1")
    await alice.say(CANARY_WITHOUT_BASELINE)
    jobs = await team.bot.queue.claim(8)
    # Graded, but before the interview moved on the person adds the missing point.
    assert await team.bot.queue.complete(jobs[0], await team.bot.offline.grade(team.bot.bank.get("test-canary"), jobs[0].text))
    await alice.say("A baseline of the old version runs side by side at the same time as a control group.")
    await team.bot.interviews.graded(jobs[0].answer_id)  # the stale callback changes nothing
    assert not alice.of("interview-graded")
    await alice.grade()
    assert len(alice.of("interview-graded")) == 1 and not alice.of("interview-follow-up")  # graded whole: baseline covered
    async with team.bot.sessions() as session:
        grades = (await session.execute(select(GradeRow).where(GradeRow.answer_id == jobs[0].answer_id))).scalars().all()
    assert sorted(g.revision for g in grades) == [1, 2]
