"""The answer inbox: held with one INSERT, filed in batches, never lost or doubled.

Runs on SQLite and PostgreSQL (the `team` fixture); the replica test needs PostgreSQL's row locks.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bot.app import RepBot
from bot.config import Settings
from bot.inbox import AnswerInbox, InboxSettings, decode, encode
from bot.intake import Outcome
from storage.models import Answer, AnswerMessage, InboxMessage
from tests.harness import Team

GOOD = (
    "I would send about 1% of traffic to the canary next to a baseline of the old version, compare error "
    "rate and p99 latency, and roll back automatically by setting the canary weight to zero when it is worse."
)


async def count(team: Team, model: Any) -> int:
    async with team.bot.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def answers(team: Team) -> list[Answer]:
    async with team.bot.sessions() as session:
        return list((await session.execute(select(Answer).order_by(Answer.id))).scalars())


async def test_held_answer_is_filed_with_its_reaction_and_graded(team: Team) -> None:
    await team.post_today()
    assert await team.receive("alice", GOOD, source_id="ts-1")
    assert await team.bot.inbox.depth() == 1 and await count(team, Answer) == 0
    assert team.chat.reactions() == []  # the 👀 says "filed as an answer"; that has not happened yet

    await team.file()
    assert await team.bot.inbox.depth() == 0
    [answer] = await answers(team)
    assert answer.text == GOOD and answer.status == "pending"
    assert [r.ref for r in team.chat.reactions()] == ["ts-1"]
    await team.grade()
    assert "/10" in team.chat.private_to("alice")[-1].text()


async def test_redelivery_before_and_after_filing_is_one_answer(team: Team) -> None:
    await team.post_today()
    assert await team.receive("alice", GOOD, source_id="ts-1")
    assert not await team.receive("alice", GOOD, source_id="ts-1")  # meets the held copy
    await team.file()
    assert await team.receive("alice", GOOD, source_id="ts-1")  # held again, after filing ...
    await team.file()  # ... and recognised by the intake as a message it already has
    assert await count(team, Answer) == 1 and await count(team, AnswerMessage) == 1
    assert await team.bot.inbox.depth() == 0
    assert len(team.chat.reactions()) == 1
    assert team.bot.metrics.count("repbot_answers_duplicate_total") == 2
    assert team.bot.metrics.count("repbot_answers_received_total") == 1


async def test_one_batch_files_many_people_a_split_answer_and_a_stray_reply(team: Team) -> None:
    await team.post_today()
    first, second = GOOD[:90], GOOD[90:]
    await team.receive("alice", first, source_id="a-1")
    await team.receive("bob", "Bob's answer about canaries and baselines.", source_id="b-1")
    await team.receive("alice", second, source_id="a-2")  # same person, same batch: one answer
    await team.receive("carol", "a reply in some other thread", source_id="c-1", thread="not-a-question")
    await team.file()

    by_member = {a.text: a for a in await answers(team)}
    assert set(by_member) == {first + "\n" + second, "Bob's answer about canaries and baselines."}
    assert await count(team, AnswerMessage) == 3
    assert await team.bot.inbox.depth() == 0  # the stray reply is dropped, not kept forever
    assert sorted(r.ref or "" for r in team.chat.reactions()) == ["a-1", "a-2", "b-1"]


async def test_answer_held_before_close_and_filed_after_it_is_not_late(team: Team) -> None:
    await team.post_today()
    team.clock.advance(hours=7, minutes=59)
    await team.receive("alice", GOOD)
    team.clock.advance(minutes=2)  # past the 8-hour window by the time it is filed
    await team.file()
    [answer] = await answers(team)
    assert not answer.late
    assert answer.received_at == team.clock.now() - dt.timedelta(minutes=2)


async def test_edit_of_an_answer_still_held_waits_for_it_to_be_filed(team: Team) -> None:
    await team.post_today()
    await team.receive("alice", "first draft", source_id="ts-9")
    result = await team.edit("alice", "ts-9", GOOD)  # nothing filed yet: the edit files it first
    assert result.outcome is Outcome.UPDATED
    [answer] = await answers(team)
    assert answer.text == GOOD and answer.revision == 2


async def test_held_answers_survive_a_restart(team: Team, chat: Any) -> None:
    await team.post_today()
    for i in range(5):
        await team.receive(f"user{i}", f"{GOOD} ({i})")
    await team.bot.engine.dispose()  # the process is gone before it filed anything

    restarted = RepBot(team.bot.settings, chat, clock=team.clock, bank=team.bot.bank)
    await restarted.start(schedule=False, grade_in_background=False)
    try:
        for _ in range(200):  # the inbox task files what the previous process held
            if not await restarted.inbox.depth():
                break
            await asyncio.sleep(0.05)
        async with restarted.sessions() as session:
            texts = sorted((await session.execute(select(Answer.text))).scalars())
        assert texts == sorted(f"{GOOD} ({i})" for i in range(5))
    finally:
        await restarted.stop()


async def test_a_row_that_cannot_be_filed_stays_and_does_not_block_the_rest(team: Team) -> None:
    await team.post_today()
    await team.receive("alice", GOOD, source_id="ok-1")
    await team.receive("bob", GOOD, source_id="bad-1")
    async with team.bot.inbox.held_sessions() as session, session.begin():
        await session.execute(update(InboxMessage).where(InboxMessage.source_id == "bad-1").values(payload="{not json"))
    await team.receive("carol", GOOD, source_id="ok-2")

    await team.file()
    assert {a.text for a in await answers(team)} == {GOOD} and await count(team, Answer) == 2
    async with team.bot.inbox.held_sessions() as session:
        left = (await session.execute(select(InboxMessage))).scalar_one()
    assert left.source_id == "bad-1" and left.available_at > team.clock.now()


@pytest.mark.postgres
async def test_replicas_filing_the_same_inbox_file_each_answer_once(postgres_url: str, test_bank: Any, clock: Any) -> None:
    """Three filers on one PostgreSQL inbox, racing: every answer filed (and 👀'd) exactly once."""
    from tests.fake_chat import FakeChat

    chat = FakeChat()
    team = await Team.create(postgres_url, test_bank, clock, chat)
    others = [RepBot(Settings(database_url=postgres_url), FakeChat(), clock=clock, bank=test_bank) for _ in range(2)]
    try:
        await team.post_today()
        for i in range(120):
            await team.receive(f"user{i % 40}", f"{GOOD} part {i}", source_id=f"m-{i}")
        inboxes: list[AnswerInbox] = [team.bot.inbox, *(o.inbox for o in others)]
        await asyncio.gather(*(inbox.drain() for inbox in inboxes))
        assert await count(team, AnswerMessage) == 120 and await count(team, Answer) == 40
        assert await team.bot.inbox.depth() == 0
        filed = sum(bot.metrics.count("repbot_answers_received_total") for bot in (team.bot, *others))
        assert filed == 120  # each message counted by exactly one replica
    finally:
        for other in others:
            await other.stop()
        await team.close()


def test_payload_round_trips_unicode_and_private_flag() -> None:
    from bot.events import AnswerPosted, MessageRef, Person, Place

    event = AnswerPosted(
        Person("slack", "T1", "U1", "Zoë 🚀"),
        "שלום \u202e <!channel> \x00 end",
        "slack:T1:C1:1.2",
        MessageRef(Place("slack", "T1", "C1"), "1.2", "1.0"),
        private=True,
    )
    assert decode(encode(event)) == event


async def test_filing_waits_for_a_pause_in_incoming_answers(team: Team) -> None:
    """The background filer yields to acks: nothing is filed while answers stream in."""
    await team.post_today()
    order: list[str] = []
    filer = filer_on(team, InboxSettings(idle_gap=1.0, max_defer=3600), lambda source: order.append(f"filed {source}"))
    await filer.accept(answer_event(team, "alice", "s-0"))
    filing = asyncio.create_task(filer.file_pending(yield_to_acks=True))
    for i in range(1, 6):  # a stream: one answer every 50 ms, closer than the idle gap
        await asyncio.sleep(0.05)
        await filer.accept(answer_event(team, f"user{i}", f"s-{i}"))
        order.append(f"accepted s-{i}")
    assert not filing.done()
    await filing
    assert order[:5] == [f"accepted s-{i}" for i in range(1, 6)]
    assert order[5] == "filed s-0"  # only after the stream paused


async def test_filing_does_not_wait_past_the_deferral_limit(team: Team) -> None:
    await team.post_today()
    filed: list[str] = []
    filer = filer_on(team, InboxSettings(idle_gap=3600, max_defer=20), filed.append)  # a pause would never come
    await filer.accept(answer_event(team, "alice", "s-0"))
    team.clock.advance(seconds=20)  # the answer has waited as long as the quiet period
    await filer.accept(answer_event(team, "bob", "s-1"))
    await filer.file_pending(yield_to_acks=True)
    assert filed == ["s-0", "s-1"]


def filer_on(team: Team, settings: InboxSettings, note: Callable[[str], None]) -> AnswerInbox:
    """A second inbox on the team's databases with its own timing; `note` gets each filed source id."""

    async def after_filed(event: Any, result: Any) -> None:
        note(event.source_id)

    held = team.bot.inbox.held_sessions
    return AnswerInbox(held, team.bot.sessions, team.clock, team.bot.intake, after_filed, settings)


def answer_event(team: Team, name: str, source_id: str) -> Any:
    from bot.events import AnswerPosted, MessageRef

    return AnswerPosted(team.person(name), GOOD, source_id, MessageRef(team.place, source_id, team.thread))


async def test_an_edit_files_only_the_message_it_refers_to(team: Team) -> None:
    await team.post_today()
    await team.receive("alice", "first draft", source_id="a-1")
    await team.receive("bob", GOOD, source_id="b-1")
    await team.edit("alice", "a-1", GOOD)
    assert await team.bot.inbox.holds("b-1") and not await team.bot.inbox.holds("a-1")  # the backlog waits for the inbox task
    assert [a.text for a in await answers(team)] == [GOOD]


async def test_two_filers_in_one_process_file_each_answer_once(team: Team) -> None:
    await team.post_today()
    for i in range(40):
        await team.receive(f"user{i}", f"{GOOD} ({i})")
    await asyncio.gather(team.bot.inbox.file_pending(), team.bot.inbox.file_pending())
    assert await count(team, Answer) == 40 and await team.bot.inbox.depth() == 0
    assert team.bot.metrics.count("repbot_answers_received_total") == 40
    assert team.bot.metrics.count("repbot_answers_duplicate_total") == 0  # nothing was filed twice


async def test_a_row_whose_lookups_fail_stays_and_does_not_block_the_rest(team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    await team.post_today()
    member = team.bot.intake._member

    async def failing_for_mallory(person: Any) -> Any:
        if person.user_id == "mallory":
            raise RuntimeError("member table unavailable")
        return await member(person)

    monkeypatch.setattr(team.bot.intake, "_member", failing_for_mallory)
    for name in ("alice", "mallory", "bob"):
        await team.receive(name, GOOD, source_id=f"{name}-1")
    await team.file()
    assert await count(team, Answer) == 2
    async with team.bot.inbox.held_sessions() as session:
        left = (await session.execute(select(InboxMessage))).scalar_one()
    assert left.source_id == "mallory-1" and left.attempts == 1 and left.available_at > team.clock.now()


async def test_later_messages_of_several_people_merge_in_order_in_one_batch(team: Team) -> None:
    await team.post_today()
    await team.receive("alice", "alice one", source_id="a-1")
    await team.receive("bob", "bob one", source_id="b-1")
    await team.file()
    await team.receive("alice", "alice two", source_id="a-2")
    await team.receive("bob", "bob two", source_id="b-2")
    await team.receive("alice", "alice three", source_id="a-3")
    await team.receive("alice", "alice one", source_id="a-1")  # a redelivery of a filed message
    await team.file()  # one chunk: merges for two people, one of them twice, and a duplicate

    by_text = {a.text: a for a in await answers(team)}
    assert set(by_text) == {"alice one\nalice two\nalice three", "bob one\nbob two"}
    assert by_text["alice one\nalice two\nalice three"].revision == 3  # one bump per message, as one by one
    assert by_text["bob one\nbob two"].revision == 2
    assert await count(team, AnswerMessage) == 5 and await team.bot.inbox.depth() == 0
