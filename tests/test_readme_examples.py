"""The README's command examples run as written: every line of a ```sh block that starts with
`.venv/bin/repbot` or `make` (or pipes into `make run`) is either run here or named below with the
reason it is not (recursive, long-running, or needs a file only the reader has)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.test_cli import ROOT

NOT_RUN = {
    "make run": "interactive: reads answers from a terminal (the piped example below runs it)",
    "make test": "the whole suite: this test is part of it",
    "make bench": "minutes of benchmarks",
    "make lint": "ruff over the repository, run by CI on its own",
    ".venv/bin/repbot grader eval grades.csv": "needs the reader's own human-graded CSV",
}


def not_run(command: str) -> str | None:
    """Why an example is not run here, or None to run it."""
    if command in NOT_RUN:
        return NOT_RUN[command]
    if re.search(r"--grader (llm|composite)\b", command):
        return "needs an LLM endpoint (REPBOT_LLM_BASE_URL); the LLM grader is tested against tests/fake_llm.py"
    return None


def examples() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    lines: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", readme, flags=re.DOTALL):
        for line in block.splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()  # a trailing comment, never inside these commands
            if line.startswith((".venv/bin/repbot", "make")) or line.endswith("| make run"):
                lines.append(line)
    return lines


def as_run(line: str) -> str:
    """Optional parts in brackets (`[PATH...]`, `[--out graded.csv]`) are left out."""
    return re.sub(r"\s*\[[^\]]*\]", "", line)


def test_readme_command_examples_run_as_written(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPBOT_", "SLACK_", "DISCORD_"))}
    # A fresh database of its own, so the examples behave as on a fresh clone.
    env["REPBOT_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'repbot.db'}"
    found = examples()
    ran: list[str] = []
    for line in found:
        command = as_run(line)
        if not_run(command):
            continue
        result = subprocess.run(
            ["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL
        )
        assert result.returncode == 0, f"{line}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        assert result.stdout.strip(), line
        if command.endswith("| make run"):
            out = result.stdout
            assert "== Daily question: How blue-green deployment works ==" in out
            score = re.search(r"([\d.]+)/10 on “How blue-green deployment works”", out)
            assert score is not None and float(score[1]) >= 5, out[-2000:]
            assert "== Leaderboard" in out and "1. you" in out
        ran.append(command)
    unclassified = [line for line in found if not not_run(as_run(line)) and as_run(line) not in ran]
    assert unclassified == []
    assert any(c.endswith("| make run") for c in ran)
    assert any(c.startswith(".venv/bin/repbot content show ") for c in ran)
    assert len(ran) >= 6, ran
