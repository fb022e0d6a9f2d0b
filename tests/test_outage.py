"""An outage is a few log lines: the first failure of each kind, one line per interval with a
count while it lasts, and one line when the dependency is back."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import sqlalchemy.exc

from bot.clock import FrozenClock
from bot.outage import OutageLog, is_outage
from content.loader import QuestionBank
from tests.fake_slack import FakeSlack, SlackRig, event_callback, thread_reply
from tests.test_feedback_retry import database_outage, pg_url  # noqa: F401 - the fixture is used below

GOOD = "I would send a small share of traffic to the canary and compare it with a baseline, rolling back on errors."


def test_one_line_per_kind_per_interval_with_a_count_and_one_line_when_back(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    outage = OutageLog("database", logging.getLogger("test.outage"), interval=10, monotonic=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="test.outage"):
        outage.ok()  # up and answering: says nothing
        for i in range(250):  # 25 s of failures, ten a second
            now[0] = i / 10
            outage.failed("holding answers", ConnectionRefusedError("Connect call failed"))
        outage.failed("filing held answers", TimeoutError("timed out"))  # another kind gets its own line
        now[0] = 25.0
        outage.ok()
        outage.ok()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 5, lines
    assert lines[0].startswith("database unavailable (holding answers): Connect call failed")
    assert caplog.records[0].exc_info is not None  # the first one keeps its traceback
    assert "100 failures of ConnectionRefusedError in the last 10 s" in lines[1]
    assert "100 failures of ConnectionRefusedError in the last 10 s" in lines[2]
    assert lines[3].startswith("database unavailable (filing held answers): timed out")
    assert lines[4].startswith("database is back after 25.0 s; 251 failures")
    assert not outage.down


def test_what_counts_as_an_outage() -> None:
    refused = sqlalchemy.exc.DBAPIError("SELECT 1", {}, Exception('database "x" is not currently accepting connections'))
    duplicate = sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("duplicate key"))
    pool_exhausted = sqlalchemy.exc.TimeoutError("QueuePool limit of size 10 overflow 10 reached")
    assert is_outage(refused) and is_outage(ConnectionRefusedError()) and is_outage(TimeoutError())
    assert is_outage(pool_exhausted)
    assert not is_outage(duplicate) and not is_outage(KeyError("bug"))


# -- the ack path while PostgreSQL refuses connections ------------------------------------------------


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = await FakeSlack().start()
    server.add_user("U1", "Alice")
    try:
        yield server
    finally:
        await server.stop()


@pytest.mark.postgres
async def test_answers_refused_during_a_database_outage_log_a_few_lines_not_one_per_request(
    fake: FakeSlack,
    pg_url: str,  # noqa: F811
    test_bank: QuestionBank,
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    kill, restore = database_outage(pg_url)
    rig = await SlackRig.start(fake, pg_url, test_bank, clock)
    try:
        thread = await rig.post_question()
        await kill()
        with caplog.at_level(logging.INFO):
            statuses = []
            for i in range(30):
                body = event_callback(thread_reply(f"{GOOD} ({i})", rig.next_ts(), thread, user="U1"))
                statuses.append((await rig.poster.event(rig.session, body))[0])
            assert set(statuses) == {500}  # not held: Slack is told to redeliver
            during = [r for r in caplog.records if r.levelno >= logging.WARNING]
            await restore()
            status, _ = await rig.reply(GOOD, file=False)
            assert status == 200
        assert len(during) == 1, [r.getMessage() for r in during]
        assert during[0].getMessage().startswith("database unavailable (holding answers)")
        back = [r.getMessage() for r in caplog.records if "is back" in r.getMessage()]
        assert len(back) == 1 and "30 failures" in back[0]
    finally:
        await rig.close()
