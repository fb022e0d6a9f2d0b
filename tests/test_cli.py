"""The `repbot` command line and the console adapter, run as real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPBOT = [sys.executable, "-m", "bot.cli"]


def run(
    args: list[str], cwd: Path, stdin: str = "", env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("REPBOT_", "SLACK_", "DISCORD_"))}
    base["PYTHONPATH"] = str(ROOT)
    base.update(env or {})
    return subprocess.run(REPBOT + args, cwd=cwd, input=stdin, capture_output=True, text=True, env=base, timeout=timeout)


def test_piped_console_session_prints_question_grade_and_leaderboard(tmp_path: Path) -> None:
    answer = (
        "A canary sends a small share of traffic, about 1%, to the new version through the load balancer, "
        "compares its error rate and p99 latency with a baseline, and rolls back automatically if it is worse."
    )
    result = run(["run"], tmp_path, stdin=f"{answer}\n\n/leaderboard\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "== Daily question:" in out
    assert "/10 on" in out and ("Missed:" in out or "Covered:" in out)
    assert "== Leaderboard" in out and "1. you" in out
    assert (tmp_path / "repbot.db").exists()


def test_console_switches_people_and_reveals(tmp_path: Path) -> None:
    script = "First answer from me about rollbacks and canaries with a baseline.\n\n/as dana\nDana thinks feature flags help here.\n\n/as you\n/reveal\n/leaderboard all\n/quit\n"
    result = run(["run"], tmp_path, stdin=script)
    assert result.returncode == 0, result.stderr
    assert "Now answering as dana" in result.stdout
    assert "== Reveal:" in result.stdout
    assert "you —" in result.stdout and "dana —" in result.stdout


def test_console_strips_terminal_escapes_from_answers(tmp_path: Path) -> None:
    result = run(["run"], tmp_path, stdin="/as \x1b[2Jevil\x07\nhello\n\n/quit\n")
    assert result.returncode == 0
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout


def test_bad_setting_stops_start_with_one_line(tmp_path: Path) -> None:
    result = run(["run"], tmp_path, env={"REPBOT_TIMEZONE": "Nowhere/Land"})
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "configuration error: REPBOT_TIMEZONE: unknown timezone 'Nowhere/Land' (use an IANA name such as Europe/Berlin)"
    )


def test_config_masks_secrets(tmp_path: Path) -> None:
    result = run(["config"], tmp_path, env={"SLACK_BOT_TOKEN": "xoxb-123456-secret", "REPBOT_LLM_API_KEY": "sk-abcdef"})
    assert result.returncode == 0
    assert "xoxb-123456-secret" not in result.stdout and "sk-abcdef" not in result.stdout
    assert "slack_bot_token" in result.stdout and "****" in result.stdout


def test_db_upgrade_then_refuse_old_schema(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    # An empty database with auto-migrate off: the bot refuses, naming the fix.
    refused = run(["run"], tmp_path, env={"REPBOT_DATABASE_URL": url, "REPBOT_AUTO_MIGRATE": "false"})
    assert refused.returncode == 2 and "repbot db upgrade" in refused.stderr
    upgraded = run(["db", "upgrade"], tmp_path, env={"REPBOT_DATABASE_URL": url})
    assert upgraded.returncode == 0 and "revision" in upgraded.stdout
    started = run(["run"], tmp_path, stdin="/quit\n", env={"REPBOT_DATABASE_URL": url, "REPBOT_AUTO_MIGRATE": "false"})
    assert started.returncode == 0, started.stderr


def test_export_command_writes_the_channel_rows(tmp_path: Path) -> None:
    answer = "A canary gets a small share of traffic through the load balancer and is compared with a baseline."
    assert run(["run"], tmp_path, stdin=f"{answer}\n\n/quit\n").returncode == 0
    result = run(["export", "--channel", "console:local:console", "--format", "csv"], tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("answer_id,day,question_id") and len(lines) == 2 and ",you," in lines[1]
    missing = run(["export", "--channel", "nowhere"], tmp_path)
    assert missing.returncode == 1 and "no single channel" in missing.stderr
