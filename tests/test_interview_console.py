"""A DM mock interview through the console adapter, as real `repbot run` processes with piped input."""

from __future__ import annotations

import shutil
from pathlib import Path

from content.schema import Category
from tests.test_cli import run
from tests.test_interview import BASELINE_FOLLOW_UP, CANARY_WITHOUT_BASELINE, STRONG

DATA = Path(__file__).parent / "data" / "bank"


def only_test_bank(tmp_path: Path) -> dict[str, str]:
    """A team pack that switches the bundled bank off, so the questions are known in advance."""
    pack = tmp_path / "pack"
    pack.mkdir()
    shutil.copy(DATA / "test-bank.yaml", pack / "test-bank.yaml")
    categories = "\n".join(f"  - {c.value}" for c in Category if c is not Category.CUSTOM)
    (pack / "pack.yaml").write_text(f"name: tests\ndisable_categories:\n{categories}\n")
    return {"REPBOT_CONTENT_DIRS": str(pack)}


def test_console_interview_resumes_in_a_new_process_then_returns_to_the_daily_question(tmp_path: Path) -> None:
    env = only_test_bank(tmp_path)
    first = run(["run"], tmp_path, stdin="/interview pipeline-design 1\nhint\npause\n\n/quit\n", env=env)
    assert first.returncode == 0, first.stderr
    assert "== Question 1 of 1: Catching a bad release with a canary ==" in first.stdout
    assert "Check your DMs" in first.stdout and "Hint: Where is a percentage split cheapest to change?" in first.stdout
    assert "Paused." in first.stdout

    # A new process on the same database picks the paused interview up at the same question.
    script = (
        "/interview\n"
        "resume\n\n"
        f"{CANARY_WITHOUT_BASELINE}\ndone\n"
        f"{BASELINE_FOLLOW_UP}\ndone\n"
        f"{STRONG['Why build once and promote']}\n\n"
        "/leaderboard all\n/quit\n"
    )
    second = run(["run"], tmp_path, stdin=script, env=env)
    assert second.returncode == 0, second.stderr
    out = second.stdout
    order = [
        "You have a paused interview (question 1 of 1)",
        "Welcome back.",
        "== Question 1 of 1: Catching a bad release with a canary ==",
        "== Follow-up on question 1 ==\nWhy is a fresh baseline better",
        "recovered, question 1 now",
        "== Interview scorecard ==",
        "1. Catching a bad release with a canary — ",
        "(Interview over. Lines are answers to the daily question again.)",
        "/10 on",  # the next answer went to the daily question's thread
        "== Leaderboard",
    ]
    positions = [out.find(marker) for marker in order]
    assert -1 not in positions, [m for m, p in zip(order, positions, strict=True) if p == -1]
    assert positions == sorted(positions)
    assert "1 hint" in out  # the hint from the first process is on the scorecard
    assert "1. you" in out  # points come from the daily answer only
