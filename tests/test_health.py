"""/healthz, /readyz, /livez and the health gauges tell the truth: a database that is down, a
grading queue that stopped moving, a grader that fails."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml
from aiohttp import ClientSession
from sqlalchemy import update
from sqlalchemy.engine import make_url

from bot.clock import FrozenClock
from bot.grading.errors import GradingUnavailable
from content.loader import QuestionBank
from storage.db import transaction, upgrade_sync
from storage.models import Answer
from tests.conftest import PG_URL, _asyncpg_dsn, in_thread
from tests.fake_chat import FakeChat
from tests.harness import Team

ROOT = Path(__file__).resolve().parents[1]
GOOD = "I would send a small share of traffic to the canary, compare error rate and p99 with the baseline, and roll back."


async def _get(port: int, path: str) -> tuple[int, Any]:
    async with ClientSession() as http, http.get(f"http://127.0.0.1:{port}{path}") as resp:
        body = await resp.json() if resp.content_type == "application/json" else await resp.text()
        return resp.status, body


async def _admin(sql: str, *args: object) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(PG_URL))
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()


@pytest.mark.postgres
async def test_healthz_is_503_while_the_database_is_down_and_200_after(
    postgres_url: str, test_bank: QuestionBank, clock: FrozenClock, unused_tcp_port: int
) -> None:
    in_thread(upgrade_sync, postgres_url)
    name = make_url(postgres_url).database
    team = await Team.create(postgres_url, test_bank, clock, FakeChat(), http_port=unused_tcp_port)
    await team.bot.start(schedule=False)
    try:
        status, body = await _get(unused_tcp_port, "/healthz")
        assert status == 200 and body["checks"]["database"]["ok"] is True

        # The database goes away: existing connections are killed and new ones refused.
        await _admin(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        await _admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
        try:
            status, body = await _get(unused_tcp_port, "/healthz")
            assert status == 503 and body["status"] == "down"
            assert body["checks"]["database"]["ok"] is False and body["checks"]["grader"]["ok"] is True
            status, body = await _get(unused_tcp_port, "/readyz")
            assert status == 503 and body["checks"]["database"]["ok"] is False
            assert (await _get(unused_tcp_port, "/livez"))[0] == 200  # down, but not wedged: no restart needed
            _, metrics = await _get(unused_tcp_port, "/metrics")
            assert 'repbot_check_up{check="database"} 0.0' in metrics
        finally:
            await _admin(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')

        status, body = await _get(unused_tcp_port, "/healthz")
        assert status == 200 and all(check["ok"] for check in body["checks"].values())
        _, metrics = await _get(unused_tcp_port, "/metrics")
        assert 'repbot_check_up{check="database"} 1.0' in metrics
    finally:
        await team.close()


async def test_a_grading_queue_that_stopped_moving_is_reported(
    sqlite_url: str, test_bank: QuestionBank, clock: FrozenClock, unused_tcp_port: int
) -> None:
    team = await Team.create(sqlite_url, test_bank, clock, FakeChat(), http_port=unused_tcp_port)
    # No background grading: nothing takes the answer, as when the worker is stuck.
    await team.bot.start(schedule=False, grade_in_background=False)
    try:
        await team.post_today()
        await team.answer("alice", GOOD, source_id="m1")
        status, body = await _get(unused_tcp_port, "/healthz")
        assert status == 200 and body["checks"]["grading_queue"]["ok"] is True
        clock.advance(minutes=10)  # due for ten minutes and still not graded
        status, body = await _get(unused_tcp_port, "/healthz")
        assert status == 503 and body["checks"]["grading_queue"]["ok"] is False
        assert "600 s" in body["checks"]["grading_queue"]["detail"]
        _, metrics = await _get(unused_tcp_port, "/metrics")
        assert "repbot_grading_oldest_due_seconds 600.0" in metrics
        await team.grade()
        assert (await _get(unused_tcp_port, "/healthz"))[0] == 200
    finally:
        await team.close()


class DownLLM:
    name = "llm"

    async def grade(self, question: Any, answer_text: str) -> Any:
        raise GradingUnavailable("the LLM answered 503", retry_after=None)


async def test_a_failing_grader_is_reported_and_clears_when_it_grades(
    sqlite_url: str, test_bank: QuestionBank, clock: FrozenClock, unused_tcp_port: int
) -> None:
    team = await Team.create(sqlite_url, test_bank, clock, FakeChat(), grader=DownLLM(), http_port=unused_tcp_port)
    await team.bot.start(schedule=False, grade_in_background=False)
    try:
        await team.post_today()
        await team.answer("alice", GOOD, source_id="m1")
        await team.bot.worker.run_once()
        status, body = await _get(unused_tcp_port, "/healthz")
        assert status == 503 and body["checks"]["grader"]["ok"] is False
        assert "the LLM answered 503" in body["checks"]["grader"]["detail"]
        team.bot.grader.inner = team.bot.offline  # the LLM is back (as far as grading goes)
        async with transaction(team.bot.sessions) as session:
            await session.execute(update(Answer).values(available_at=clock.now() - dt.timedelta(seconds=1)))
        await team.bot.worker.run_once()
        assert (await _get(unused_tcp_port, "/healthz"))[0] == 200
    finally:
        await team.close()


async def test_the_compose_healthcheck_passes_on_a_healthy_bot_and_fails_on_503(
    sqlite_url: str, test_bank: QuestionBank, clock: FrozenClock, unused_tcp_port: int
) -> None:
    check = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["bot"]["healthcheck"]["test"]
    assert check[:2] == ["CMD", "python"]
    env = {**os.environ, "REPBOT_HTTP_PORT": str(unused_tcp_port)}

    async def run_check() -> int:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *check[2:], env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        return await proc.wait()

    team = await Team.create(sqlite_url, test_bank, clock, FakeChat(), grader=DownLLM(), http_port=unused_tcp_port)
    await team.bot.start(schedule=False, grade_in_background=False)
    try:
        assert await run_check() == 0
        await team.post_today()
        await team.answer("alice", GOOD, source_id="m1")
        await team.bot.worker.run_once()  # the grader fails: /healthz is 503
        assert await run_check() != 0
    finally:
        await team.close()


async def test_a_stopped_scheduler_is_reported_and_started_again(
    sqlite_url: str, test_bank: QuestionBank, clock: FrozenClock, unused_tcp_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    team = await Team.create(sqlite_url, test_bank, clock, FakeChat(), http_port=unused_tcp_port)
    team.bot.scheduler.watch_seconds = 0.05
    await team.bot.start()
    try:
        status, body = await _get(unused_tcp_port, "/healthz")
        assert status == 200 and body["checks"]["scheduler"]["ok"] is True
        jobs = {job.id for job in team.bot.scheduler._aps.get_jobs()}
        team.bot.scheduler._aps.shutdown(wait=False)  # APScheduler stops: no more posts, no sweep
        await asyncio.sleep(0.01)  # (its shutdown runs from the event loop)
        assert not team.bot.scheduler.check().ok

        async def running_again() -> bool:
            return team.bot.scheduler._aps.running

        async with asyncio.timeout(10):
            while not await running_again():
                await asyncio.sleep(0.05)
        assert {job.id for job in team.bot.scheduler._aps.get_jobs()} == jobs  # with the jobs it had
        assert (await _get(unused_tcp_port, "/healthz"))[1]["checks"]["scheduler"]["ok"] is True
        logged = [r.getMessage() for r in caplog.records if "background task scheduler stopped" in r.getMessage()]
        assert len(logged) == 1 and "APScheduler stopped running" in logged[0]
    finally:
        await team.close()


@dataclass
class RepliesDown(FakeChat):
    """Replies (feedback) fail while `down`, like a Slack Web API answering 500."""

    down: bool = True

    async def reply(self, thread: Any, message: Any, only_to: Any = None) -> Any:
        if self.down:
            raise ConnectionError("the platform answered 500")
        return await super().reply(thread, message, only_to)


async def test_feedback_that_stays_undelivered_is_reported_until_it_goes_out(
    sqlite_url: str, test_bank: QuestionBank, clock: FrozenClock, unused_tcp_port: int
) -> None:
    chat = RepliesDown()
    team = await Team.create(sqlite_url, test_bank, clock, chat, http_port=unused_tcp_port)
    await team.bot.start(schedule=False, grade_in_background=False)
    try:
        await team.post_today()
        await team.answer("alice", GOOD, source_id="m1")
        await team.bot.worker.run_once()  # graded; its feedback fails
        status, body = await _get(unused_tcp_port, "/healthz")
        assert status == 200 and body["checks"]["feedback"]["ok"] is True  # just now: retried soon
        clock.advance(minutes=10)
        status, body = await _get(unused_tcp_port, "/healthz")
        assert status == 503 and body["checks"]["feedback"]["ok"] is False
        assert "600 s" in body["checks"]["feedback"]["detail"]
        chat.down = False
        await team.bot.notifier.deliver_pending()
        assert chat.private_to("alice") and "feedback" in chat.private_to("alice")[-1].tags
        status, body = await _get(unused_tcp_port, "/healthz")
        assert status == 200 and body["checks"]["feedback"] == {"ok": True, "detail": "nothing waiting"}
    finally:
        await team.close()
