"""Feedback that could not be sent is retried while the bot runs, and never lost.

Real slack-sdk/slack-bolt against the fake Slack; on PostgreSQL the database connection is killed
(pg_terminate_backend, new connections refused) in the middle of the send.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bot.clock import FrozenClock
from bot.feedback import DeliverySettings
from content.loader import QuestionBank
from storage.db import upgrade_sync
from storage.models import Answer
from tests.conftest import PG_URL, _asyncpg_dsn, in_thread
from tests.fake_slack import FakeSlack, SlackRig

GOOD = (
    "I would send a small percentage of traffic, about 1%, to the new version with weighted routing in the "
    "load balancer. A baseline of the old version runs side by side at the same time. The analysis compares "
    "error rate and p99 latency against the baseline, and the controller will roll back automatically."
)
FIRST_RETRY = DeliverySettings().first_retry
LEASE = DeliverySettings().lease


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = await FakeSlack().start()
    server.add_user("U1", "Alice")
    try:
        yield server
    finally:
        await server.stop()


def feedback_sent(fake: FakeSlack) -> list[str]:
    return [t for t in fake.texts("chat.postEphemeral") if "/10" in t]


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def the_answer(rig: SlackRig) -> Answer:
    async with rig.bot.sessions() as session:
        return (await session.execute(select(Answer))).scalar_one()


async def running_rig(fake: FakeSlack, url: str, bank: QuestionBank, clock: FrozenClock) -> SlackRig:
    rig = await SlackRig.start(fake, url, bank, clock)
    await rig.bot.start(schedule=False)  # inbox, grading worker and the feedback retry loop run
    await rig.post_question()
    return rig


async def test_feedback_refused_with_500_is_sent_within_the_retry_interval_while_running(
    fake: FakeSlack, db_url: str, test_bank: QuestionBank, clock: FrozenClock
) -> None:
    fake.fail("chat.postEphemeral", times=1)
    rig = await running_rig(fake, db_url, test_bank, clock)
    try:
        status, _ = await rig.reply(GOOD)
        assert status == 200
        await fake.wait_for("chat.postEphemeral", 1)  # refused with HTTP 500

        async def retry_time_set() -> bool:
            answer = await the_answer(rig)
            return answer.notify_attempts == 1 and answer.notify_token is None

        await eventually(retry_time_set)
        answer = await the_answer(rig)
        assert answer.notify_pending and answer.notify_after == clock.now() + FIRST_RETRY
        clock.advance(seconds=FIRST_RETRY.total_seconds())  # the retry interval passes; no restart
        await fake.wait_for("chat.postEphemeral", 2)
        await eventually(lambda: _delivered(rig))
        assert len(feedback_sent(fake)) == 2  # the refused attempt and the delivered one
        await rig.bot.notifier.deliver_pending()
        assert len(fake.of("chat.postEphemeral")) == 2  # delivered: nothing more is sent
    finally:
        await rig.close()


async def _delivered(rig: SlackRig) -> bool:
    return not (await the_answer(rig)).notify_pending


# -- PostgreSQL: the connection dies in the middle of the send --------------------------------------


@pytest.fixture
def pg_url(postgres_url: str) -> str:
    in_thread(upgrade_sync, postgres_url)
    return postgres_url


async def _admin(sql: str, *args: object) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(PG_URL))
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()


def database_outage(url: str) -> tuple[Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]:
    """(kill, restore): kill every connection to the test database and refuse new ones; then allow them."""
    name = make_url(url).database

    async def kill() -> None:
        await _admin(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        await _admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)

    async def restore() -> None:
        await _admin(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')

    return kill, restore


async def _reachable(rig: SlackRig) -> bool:
    try:
        await the_answer(rig)
        return True
    except Exception:  # noqa: BLE001 - still refused
        return False


@pytest.mark.postgres
async def test_connection_killed_during_a_failed_send_leaves_feedback_pending_and_it_is_sent_once(
    fake: FakeSlack, pg_url: str, test_bank: QuestionBank, clock: FrozenClock
) -> None:
    kill, restore = database_outage(pg_url)
    fake.during["chat.postEphemeral"] = kill
    fake.fail("chat.postEphemeral", times=1)
    rig = await running_rig(fake, pg_url, test_bank, clock)
    try:
        await rig.reply(GOOD)
        await fake.wait_for("chat.postEphemeral", 1)  # the database died during this send, which failed
        del fake.during["chat.postEphemeral"]
        await asyncio.sleep(0.5)  # the bot keeps running against a database that refuses it
        await restore()
        await eventually(lambda: _reachable(rig))
        answer = await the_answer(rig)
        assert answer.status == "graded" and answer.notify_pending  # not lost
        clock.advance(seconds=LEASE.total_seconds() + 1)  # the claim that could not be released expires
        await fake.wait_for("chat.postEphemeral", 2)
        await eventually(lambda: _delivered(rig))
        clock.advance(minutes=10)
        await rig.bot.notifier.deliver_pending()
        assert len(feedback_sent(fake)) == 2  # the failed attempt, then delivered exactly once
    finally:
        await rig.close()


@pytest.mark.postgres
async def test_a_send_that_reached_slack_before_the_database_died_is_recorded_not_sent_again(
    fake: FakeSlack, pg_url: str, test_bank: QuestionBank, clock: FrozenClock
) -> None:
    kill, restore = database_outage(pg_url)
    fake.during["chat.postEphemeral"] = kill  # Slack takes the message; recording it then fails
    rig = await running_rig(fake, pg_url, test_bank, clock)
    try:
        await rig.reply(GOOD)
        await fake.wait_for("chat.postEphemeral", 1)
        del fake.during["chat.postEphemeral"]
        await asyncio.sleep(0.5)
        await restore()
        await eventually(lambda: _delivered(rig))  # recorded by the retry loop once the database is back
        clock.advance(seconds=LEASE.total_seconds() + 1)  # even after its claim would have expired
        await rig.bot.notifier.deliver_pending()
        assert len(feedback_sent(fake)) == 1
    finally:
        await rig.close()


# -- a crash mid-send ------------------------------------------------------------------------------


async def test_a_sender_that_dies_mid_send_leaves_the_feedback_to_the_next_one(
    fake: FakeSlack, db_url: str, test_bank: QuestionBank, clock: FrozenClock
) -> None:
    rig = await SlackRig.start(fake, db_url, test_bank, clock)
    try:
        await rig.post_question()
        hang = asyncio.Event()

        async def hold() -> None:
            await hang.wait()  # the process is killed while Slack has not answered

        fake.during["chat.postEphemeral"] = hold
        await rig.reply(GOOD)
        jobs = await rig.bot.queue.claim(1)
        grade = await rig.bot.offline.grade(test_bank.get(jobs[0].question_id), jobs[0].text)
        assert await rig.bot.queue.complete(jobs[0], grade)
        sending = asyncio.create_task(rig.bot.notifier.graded(jobs[0].answer_id))
        await fake.wait_for("chat.postEphemeral", 1)
        sending.cancel()  # the sender dies with its claim taken
        await asyncio.gather(sending, return_exceptions=True)
        del fake.during["chat.postEphemeral"]
        hang.set()
        assert (await the_answer(rig)).notify_pending
        assert await rig.bot.notifier.deliver_pending() == 0  # its claim still holds
        clock.advance(seconds=LEASE.total_seconds() + 1)
        assert await rig.bot.notifier.deliver_pending() == 1
        assert await _delivered(rig) and len(feedback_sent(fake)) == 2
    finally:
        await rig.close()


def test_backoff_doubles_up_to_the_maximum() -> None:
    s = DeliverySettings(first_retry=dt.timedelta(seconds=5), max_backoff=dt.timedelta(minutes=5))
    assert [s.backoff(n).total_seconds() for n in (1, 2, 3, 4, 7, 8, 50)] == [5, 10, 20, 40, 300, 300, 300]
