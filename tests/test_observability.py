"""Health, metrics and logs: what operators see, and that secrets never appear in it."""

from __future__ import annotations

import io
import json
import logging

from aiohttp import ClientSession
from pydantic import SecretStr

from bot.app import RepBot
from bot.clock import FrozenClock
from bot.config import Settings
from bot.logs import configure_logging
from content.loader import QuestionBank
from tests.fake_chat import FakeChat
from tests.harness import PLACE, Team

GOOD = (
    "I would send a small percentage of traffic to the canary and compare it with a baseline side by side, watching p99 latency."
)


async def test_healthz_and_metrics_count_what_happened(
    sqlite_url: str, test_bank: QuestionBank, clock: FrozenClock, unused_tcp_port: int
) -> None:
    team = await Team.create(sqlite_url, test_bank, clock, FakeChat(), http_port=unused_tcp_port)
    await team.bot.start(schedule=False, grade_in_background=False)
    try:
        await team.post_today()
        await team.answer("alice", GOOD, source_id="m1")
        await team.answer("alice", GOOD, source_id="m1")  # a replay
        await team.answer("bob", GOOD, source_id="m2")
        async with ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{unused_tcp_port}/metrics") as resp:
                before = await resp.text()
            await team.grade()
            async with http.get(f"http://127.0.0.1:{unused_tcp_port}/metrics") as resp:
                after = await resp.text()
            async with http.get(f"http://127.0.0.1:{unused_tcp_port}/healthz") as resp:
                health = await resp.json()
                assert resp.status == 200 and health["status"] == "ok"
                assert {name: check["ok"] for name, check in health["checks"].items()} == {
                    "database": True,
                    "grading_queue": True,
                    "grader": True,
                    "feedback": True,
                    "background_tasks": True,
                }
        assert "repbot_answers_received_total 2.0" in before and "repbot_answers_duplicate_total 1.0" in before
        assert "repbot_queue_depth 2.0" in before and "repbot_queue_depth 0.0" in after
        assert 'repbot_answers_graded_total{grader="offline"} 2.0' in after
        assert "repbot_posts_sent_total 1.0" in after and "repbot_grading_latency_seconds_count 2.0" in after
        assert "repbot_inbox_depth 0.0" in after  # answers held but not filed (none: these were filed at once)
    finally:
        await team.close()


def test_secrets_never_reach_the_logs(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    secrets = ["xoxb-1234567890-secret-bot-token", "sk-llm-key-abcdef123456", "discord-token-zyxwvu987654"]
    stream = io.StringIO()
    configure_logging("DEBUG", secrets, stream, json_lines=True)
    log = logging.getLogger("repbot.test")
    log.info("connecting with token %s", secrets[0])
    log.warning("llm said: invalid key %s", secrets[1])
    try:
        raise RuntimeError(f"gateway refused {secrets[2]}")
    except RuntimeError:
        log.exception("discord failed")
    output = stream.getvalue()
    for secret in secrets:
        assert secret not in output
    lines = [json.loads(line) for line in output.splitlines()]
    assert [entry["level"] for entry in lines] == ["INFO", "WARNING", "ERROR"]
    assert "****" in lines[0]["message"] and "****" in lines[2]["exception"]


async def test_settings_with_tokens_are_masked_in_a_running_bots_log(
    sqlite_url: str, test_bank: QuestionBank, clock: FrozenClock
) -> None:
    settings = Settings(database_url=sqlite_url, slack_bot_token="xoxb-live-9999-secret", llm_api_key="sk-live-abcdef-123")
    stream = io.StringIO()
    configure_logging("DEBUG", settings.secrets(), stream)
    bot = RepBot(settings.model_copy(update={"llm_base_url": None, "llm_api_key": None}), FakeChat(), clock=clock, bank=test_bank)
    await bot.prepare()
    # A careless debug line that reveals the raw values (model_dump() alone keeps SecretStr masked, proving nothing).
    revealed = {k: v.get_secret_value() if isinstance(v, SecretStr) else v for k, v in settings.model_dump().items()}
    logging.getLogger("bot").info("effective settings: %s", revealed)
    try:
        raise RuntimeError("slack refused token xoxb-live-9999-secret")
    except RuntimeError:
        logging.getLogger("bot").exception("llm call failed with key %s", settings.llm_api_key.get_secret_value())  # type: ignore[union-attr]
    await bot.daily.ensure_channel(PLACE, "team")
    await bot.stop()
    output = stream.getvalue()
    assert "effective settings:" in output and "llm call failed with key ****" in output
    assert "slack refused token ****" in output
    assert "xoxb-live-9999-secret" not in output and "sk-live-abcdef-123" not in output
