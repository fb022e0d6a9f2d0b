"""The LLM grader's scale anchors: the question's calibration answers travel in the prompt, within
budget, and `repbot grader eval --set calibration --grader llm` runs against an OpenAI-compatible
endpoint (here the fake one on loopback)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio

from bot.grading.llm import ANCHOR_BUDGET_CHARS, LLMGrader
from content.schema import AnswerStyle, CalibrationAnswer, Criterion, Question
from tests.fake_llm import FakeLLM, Reply, answer_block, verdict
from tests.test_grader_eval import run_cli

BASE = Question(
    id="anchor-rollback",
    title="Rolling back a bad deploy",
    prompt="A deploy just raised error rates in production. What do you do?",
    rubric=[
        Criterion(
            id="rollback", description="Rolls back to the last good version.", signals=["last known good", "redeploy", "revert"]
        ),
        Criterion(id="verify", description="Verifies recovery with metrics.", signals=["error rate", "dashboards", "latency"]),
    ],
    model_answer="Roll back to the last known good version, then watch the error rate until it is back to baseline.",
)
EXAMPLES = [
    CalibrationAnswer(style=AnswerStyle.TERSE_EXPERT, expected=8.5, text="revert to last good build, watch 5xx til baseline"),
    CalibrationAnswer(style=AnswerStyle.PARTIAL, expected=4.5, text="I'd roll it back and see what happens after that."),
    CalibrationAnswer(style=AnswerStyle.WRONG, expected=1.0, text="Hotfix it in prod straight away, rollback is for cowards."),
    CalibrationAnswer(
        style=AnswerStyle.THOROUGH, expected=9.5, text="Pause, redeploy the previous artifact, watch errors and latency."
    ),
    CalibrationAnswer(style=AnswerStyle.VAGUE, expected=1.5, text="Follow best practices and make sure things are fine."),
]


def user_content(body: dict[str, Any]) -> str:
    return str(next(m["content"] for m in body["messages"] if m["role"] == "user"))


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeLLM]:
    server = await FakeLLM().start()
    yield server
    await server.close()


async def grade_once(fake: FakeLLM, question: Question) -> str:
    fake.push(verdict({"rollback": "full", "verify": "partial"}))
    grader = LLMGrader(base_url=fake.base_url, api_key="k", model="m", concurrency=1, timeout_s=2.0, max_attempts=1)
    try:
        await grader.grade(question, "I'd revert to the last known good build.")
    finally:
        await grader.aclose()
    return user_content(fake.requests[-1])


async def test_calibration_answers_anchor_the_scale(fake: FakeLLM) -> None:
    content = await grade_once(fake, BASE.model_copy(update={"calibration": EXAMPLES}))
    assert "SCALE ANCHORS" in content
    for example in EXAMPLES:
        assert example.text in content
        assert f"[{example.style.value}, total about {example.expected:g}/10]" in content
    # The anchors sit outside the candidate's delimited block: they are ours, not the answer.
    block = answer_block(fake.requests[-1])
    assert block is not None and "SCALE ANCHORS" not in block[1]


async def test_anchors_keep_within_the_prompt_budget(fake: FakeLLM) -> None:
    long = [e.model_copy(update={"text": e.text + " " + "and more detail " * 60}) for e in EXAMPLES]
    content = await grade_once(fake, BASE.model_copy(update={"calibration": long}))
    shown = [line for line in content.splitlines() if line.startswith("- [")]
    assert shown, "no anchor fitted at all"
    assert sum(len(line.split("] ", 1)[1]) for line in shown) <= ANCHOR_BUDGET_CHARS
    assert len(shown) < len(long)


async def test_no_calibration_no_anchor_section(fake: FakeLLM) -> None:
    assert "SCALE ANCHORS" not in await grade_once(fake, BASE)


async def test_eval_on_the_bank_calibration_set_with_an_llm(fake: FakeLLM, tmp_path: Path) -> None:
    def responder(body: dict[str, Any]) -> Reply:
        asked = re.search(r"each criterion id: (.+?)\. verdict", user_content(body))
        assert asked is not None
        return verdict(dict.fromkeys(asked.group(1).split(", "), "partial"), feedback="ok")

    fake.responder = responder
    env = {"REPBOT_LLM_BASE_URL": fake.base_url, "REPBOT_LLM_API_KEY": "test-key", "REPBOT_LLM_MODEL": "local-model"}
    result = await asyncio.to_thread(run_cli, ["grader", "eval", "--set", "calibration", "--grader", "llm"], tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert "with the llm grader" in result.stdout
    assert len(fake.requests) >= 5  # every calibration answer of the bank goes to the endpoint
    assert "SCALE ANCHORS" in user_content(fake.requests[0])
