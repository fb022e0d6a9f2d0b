"""Issue 15 in the console, run as a new user runs it: real `repbot run` processes with piped input
(or a pseudo-terminal), plus the console adapter in-process where the test needs a frozen clock."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import pty
import re
import select
import signal
import sqlite3
import subprocess
import termios
import time
from pathlib import Path

import yaml

from adapters.console import PLACE, ConsoleChat, run_console
from bot.app import RepBot
from bot.clock import FrozenClock
from bot.config import Settings
from bot.events import AnswerPosted, MessageRef, Person
from content.loader import QuestionBank
from tests.fake_chat import FakeChat
from tests.test_cli import REPBOT, ROOT, run
from tests.test_interview import CANARY_WITHOUT_BASELINE, STRONG
from tests.test_interview_console import only_test_bank

CANARY = STRONG["Catching a bad release with a canary"]


def db_rows(tmp_path: Path, query: str) -> list[tuple]:
    with sqlite3.connect(tmp_path / "repbot.db") as conn:
        return conn.execute(query).fetchall()


# -- 1. an unfinished interview keeps the person's lines after a restart ---------------------------


def test_unfinished_interview_keeps_the_persons_lines_after_a_restart(tmp_path: Path) -> None:
    env = only_test_bank(tmp_path)
    first = run(["run"], tmp_path, stdin="/interview pipeline-design 1\n/quit\n", env=env)
    assert first.returncode == 0, first.stderr
    second = run(["run"], tmp_path, stdin="repeat\n\n", env=env)
    assert second.returncode == 0, second.stderr
    out = second.stdout
    assert "has a mock interview in progress" in out
    assert out.count("== Question 1 of 1: Catching a bad release with a canary ==") >= 1
    assert "/10 on" not in out  # nothing became a graded channel answer
    assert db_rows(tmp_path, "SELECT count(*) FROM answers WHERE post_id IS NOT NULL") == [(0,)]


# -- 2. an interview answer spans messages until `done`; keywords act at once ---------------------


def test_interview_answer_spans_messages_until_done(tmp_path: Path) -> None:
    env = only_test_bank(tmp_path)
    half = len(CANARY) // 2
    # Two messages (each ends with an empty line), a keyword between them, then `done`.
    script = f"/interview pipeline-design 1\n{CANARY[:half]}\n\nhint\n{CANARY[half:]}\n\ndone\n"
    result = run(["run"], tmp_path, stdin=script, env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Add more if you like, then say `done`" in out
    assert out.index("Hint: Where is a percentage split cheapest to change?") < out.index("Question 1:")
    assert "Nothing to grade yet" not in out
    [(text, revision)] = db_rows(tmp_path, "SELECT text, revision FROM answers WHERE interview_id IS NOT NULL")
    assert text == f"{CANARY[:half]}\n{CANARY[half:]}" and revision == 2
    assert "== Interview scorecard ==" in out


def test_interview_answer_is_graded_after_the_quiet_period_without_done(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPBOT_", "SLACK_", "DISCORD_"))}
    env.update(PYTHONPATH=str(ROOT), REPBOT_QUIET_PERIOD_SECONDS="1", **only_test_bank(tmp_path))
    proc = subprocess.Popen(REPBOT + ["run"], cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    assert proc.stdin is not None and proc.stdout is not None
    seen = b""
    try:
        # Input stays open (a person still at the keyboard): only the quiet pause can finish the answer.
        proc.stdin.write(f"/interview pipeline-design 1\n{CANARY}\n\n".encode())
        proc.stdin.flush()
        deadline = time.monotonic() + 60
        while b"Question 1:" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 0.5)
            if ready:
                seen += os.read(proc.stdout.fileno(), 4096)
        assert b"Add more if you like" in seen and b"Question 1:" in seen, seen[-800:]
        assert seen.index(b"Add more if you like") < seen.index(b"Question 1:")
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0
        proc.stdout.close()


def test_piped_interview_answer_left_open_is_graded_at_end_of_input(tmp_path: Path) -> None:
    env = only_test_bank(tmp_path)
    result = run(["run"], tmp_path, stdin=f"/interview pipeline-design 1\n{CANARY_WITHOUT_BASELINE}\n", env=env)
    assert result.returncode == 0, result.stderr
    assert "Question 1:" in result.stdout  # graded, as `done` would


# -- 3. /export writes the file it names ---------------------------------------------------------


def test_console_export_writes_the_file_it_names(tmp_path: Path) -> None:
    answer = "A canary gets a small share of traffic through the load balancer and is compared with a baseline."
    result = run(["run"], tmp_path, stdin=f"{answer}\n\n/export\n/export json\n/quit\n")
    assert result.returncode == 0, result.stderr
    today = dt.datetime.now(dt.UTC).date().isoformat()  # the console channel's timezone is UTC
    written = re.findall(r"\(wrote (.+?), ([\d,]+) bytes\)", result.stdout)
    names = [Path(p).name for p, _ in written]
    assert f"repbot-console-{today}.csv" in names and f"repbot-console-{today}.json" in names
    assert "1970" not in result.stdout
    rows = list(csv.DictReader(io.StringIO((tmp_path / f"repbot-console-{today}.csv").read_text())))
    assert len(rows) == 1 and rows[0]["answer"] == answer and rows[0]["feedback"] and rows[0]["grader"] == "offline"
    size = next(int(s.replace(",", "")) for p, s in written if p.endswith(".csv"))
    assert size == (tmp_path / f"repbot-console-{today}.csv").stat().st_size


# -- 4. the console runs the day's post and the weekly recap ---------------------------------------


async def test_console_runs_the_days_post_and_the_weekly_recap(tmp_path: Path, test_bank: QuestionBank) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'repbot.db'}", quiet_period_seconds=0)
    clock = FrozenClock(dt.datetime(2026, 3, 2, 9, 30, 5, tzinfo=dt.UTC))
    earlier = RepBot(settings, FakeChat(), clock=clock, bank=test_bank)
    await earlier.prepare()
    channel = await earlier.daily.ensure_channel(PLACE, "console")
    for day in range(3):  # last week, in the console channel
        clock.set(dt.datetime(2026, 3, 2 + day, 9, 30, 5, tzinfo=dt.UTC))
        await earlier.scheduler.fire(channel.id)
        post = await earlier.daily.open_post(channel.id)
        assert post is not None
        you = Person("console", "local", "you", "you")
        await earlier.handle(AnswerPosted(you, CANARY, f"a{day}", MessageRef(PLACE, f"a{day}", post.thread_ref)))
        await earlier.worker.run_until_idle()
        await earlier.daily.close_open(channel.id)
    await earlier.stop()

    # Next Monday, a few minutes after the 09:30 post time: the console opens.
    clock.set(dt.datetime(2026, 3, 9, 9, 35, tzinfo=dt.UTC))
    out = io.StringIO()
    chat = ConsoleChat(out=out, files_dir=tmp_path)
    bot = RepBot(settings, chat, clock=clock, bank=test_bank, channel_quiet_seconds=0.0)
    assert await run_console(bot, chat, io.StringIO("/leaderboard\n/quit\n"), "you") == 0
    text = out.getvalue()
    assert "== Daily question:" in text and "streaks follow" not in text  # the day's own post
    assert "== Weekly recap — week of 02 Mar 2026 ==" in text
    assert (tmp_path / "recap-2026-03-02.png").read_bytes().startswith(b"\x89PNG")


# -- 6. buttons are commands ---------------------------------------------------------------------


def test_console_buttons_are_commands(tmp_path: Path) -> None:
    answer = "A canary gets a small share of traffic through the load balancer and is compared with a baseline."
    script = f"/hint\n/private\n{answer}\n\n/skip\n/question\n/quit\n"
    result = run(["run"], tmp_path, stdin=script)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "[Answer privately]" not in out and "[Hint]" not in out
    assert "/private (answer privately), /hint (hint), /skip (skip)" in out
    assert "Unknown command" not in out and "Hint:" in out and "Skipped." in out
    assert "(only visible to you)" in out  # the private answer's feedback
    assert db_rows(tmp_path, "SELECT private FROM answers") == [(1,)]
    assert "answer it in its thread" not in out and out.count("== Daily question:") == 2  # /question shows it again


# -- 7. the open question is shown again after a restart --------------------------------------------


def test_open_question_is_shown_again_after_a_restart(tmp_path: Path) -> None:
    first = run(["run"], tmp_path, stdin="/quit\n")
    title = re.search(r"== Daily question: (.+) ==", first.stdout)
    assert title is not None
    second = run(["run"], tmp_path, stdin="/quit\n")
    assert f"== Daily question: {title[1]} ==" in second.stdout
    assert db_rows(tmp_path, "SELECT count(*) FROM posts") == [(1,)]


# -- 8. /as names one person; only the person at the terminal is an admin ------------------------------


def test_as_names_one_person_and_only_the_console_user_is_admin(tmp_path: Path) -> None:
    answer = "A canary gets a small share of traffic through the load balancer and is compared with a baseline."
    script = f"/as @Alice\n{answer}\n\n/as ALICE\n/stats\n/as \u200b\u200d\n/reveal\n/as you\n/stats @alice\n/as dana\n/export\n/quit\n"
    result = run(["run"], tmp_path, stdin=script)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Now answering as Alice." in out and "@Alice" not in out
    assert "That name has no visible characters" in out
    assert "`reveal` is for RepBot admins" in out  # Alice is not an admin
    assert "`export` is for RepBot admins" in out  # nor is dana
    assert db_rows(tmp_path, "SELECT user_ref FROM members ORDER BY user_ref") == [("alice",)]
    assert out.count("Stats for ALICE") + out.count("Stats for Alice") == 2
    listed = run(["run"], tmp_path, stdin="/as Dana\n/reveal\n/quit\n", env={"REPBOT_ADMINS": "console:dana"})
    assert "Revealed." in listed.stdout


# -- 9. line editing with a terminal (and 2: interview keywords act at once) -------------------------------------------------------------


def test_terminal_input_has_line_editing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPBOT_", "SLACK_", "DISCORD_"))}
    env.update(PYTHONPATH=str(ROOT), TERM="xterm")
    main, child = pty.openpty()
    proc = subprocess.Popen(REPBOT + ["run"], cwd=tmp_path, stdin=child, stdout=child, stderr=child, env=env)
    os.close(child)
    seen = b""

    def read_until(*markers: bytes, limit: float = 60) -> None:
        nonlocal seen
        start = len(seen)
        deadline = time.monotonic() + limit
        while not any(m in seen[start:] for m in markers) and time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(main, 4096)
                except OSError:
                    break
        assert any(m in seen[start:] for m in markers), seen[-500:]

    try:
        read_until(b"> ")
        os.write(main, b"/as ab\x1b[DX\r")  # left arrow, then X: readline edits the line
        read_until(b"Now answering as aXb.")
        os.write(main, b"/interview\r")
        read_until(b"== Question 1 of")
        os.write(main, b"hint\r")  # a keyword acts on its own line, no empty line needed
        read_until(b"Hint: ", b"No hints", b"No more hints", limit=20)
        read_until(b"> ")
        # Ctrl-C while readline waits for a line: the bot stops at once and gives the terminal
        # back with echo on (the pty is not the child's controlling terminal, so send the signal).
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        assert termios.tcgetattr(main)[3] & termios.ECHO
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(main)


# -- 10. log level, make run -------------------------------------------------------------------------


def test_log_level_applies_in_the_console(tmp_path: Path) -> None:
    quiet = run(["run"], tmp_path, stdin="/quit\n")
    assert "database schema" not in quiet.stderr
    chatty = run(["run"], tmp_path, stdin="/quit\n", env={"REPBOT_LOG_LEVEL": "INFO"})
    assert chatty.returncode == 0 and "INFO bot.app database schema" in chatty.stderr


def test_make_run_installs_runtime_dependencies_only() -> None:
    def recipe(target: str) -> str:
        return subprocess.run(["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, check=True).stdout

    run_lines = [line for line in recipe("run").splitlines() if "pip install" in line and "--upgrade pip" not in line]
    assert run_lines and all("[dev]" not in line for line in run_lines)
    assert all("PYTHONWARNINGS=ignore::UserWarning" in line for line in run_lines)  # no boxed setuptools warning
    assert any("'.[dev]'" in line for line in recipe("test").splitlines())


# -- 11. compose passes the whole environment; no platform and no input fails clearly ---------------


def compose_environment(compose: dict, project: Path) -> dict[str, str]:
    """The environment compose gives the bot service: env_file entries, then `environment` (which
    wins), with ${NAME:-default} taken from the project's .env as compose interpolates it."""
    bot = compose["services"]["bot"]
    dotenv = dict(line.split("=", 1) for line in (project / ".env").read_text().splitlines() if "=" in line)
    env: dict[str, str] = {}
    files = bot.get("env_file", [])
    for entry in [files] if isinstance(files, str | dict) else files:
        path = entry if isinstance(entry, str) else entry["path"]
        env.update(dict(line.split("=", 1) for line in (project / path).read_text().splitlines() if "=" in line))

    def interpolate(value: str) -> str:
        return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: dotenv.get(m[1]) or (m[2] or ""), str(value))

    env.update({k: interpolate(v) for k, v in (bot.get("environment") or {}).items()})
    return env


def test_compose_gives_the_bot_every_variable_in_env(tmp_path: Path) -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    dotenv = {
        "REPBOT_ADMINS": "slack:U1",
        "REPBOT_HOLIDAY_COUNTRY": "DE",
        "REPBOT_WEEKDAYS": "mon,wed,fri",
        "SLACK_BOT_TOKEN": "xoxb-1",
        "DISCORD_TOKEN": "d-1",
    }
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in dotenv.items()))
    env = compose_environment(compose, tmp_path)
    assert {k: env.get(k) for k in dotenv} == dotenv
    assert env["REPBOT_DATABASE_URL"] == "postgresql+asyncpg://repbot:repbot@postgres:5432/repbot"
    (tmp_path / ".env").write_text("REPBOT_DATABASE_URL=postgresql+asyncpg://u:p@db.example/x\n")
    assert compose_environment(compose, tmp_path)["REPBOT_DATABASE_URL"] == "postgresql+asyncpg://u:p@db.example/x"
    # A checkout without .env still starts (the file is optional).
    assert all(isinstance(e, dict) and e.get("required") is False for e in compose["services"]["bot"]["env_file"])


def test_no_platform_and_no_input_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    result = run(["run"], tmp_path, stdin="")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no chat platform is configured" in lines[0] and "standard input is empty" in lines[0]
    assert result.stdout == ""
