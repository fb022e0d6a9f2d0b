"""Time to HTTP 200 for Slack answer events: RepBot's HTTP-mode app against a floor app.

Both apps run here, one after the other, on the same rig: slack-bolt AsyncApp with
process_before_response=True on aiohttp, a SQLite file (WAL) through SQLAlchemy/aiosqlite, and
the start-up heap frozen out of the garbage collector's way (`repbot run` does the same).
The floor's only work is one raw INSERT + commit per event. RepBot holds the answer in its
inbox (one INSERT + commit) before the 200; its inbox task, in the same process, files the
held answers (post, member, answer and message rows) once incoming answers pause, at most the
default 20 s quiet period after they arrived (so during this 10 s burst it waits, and files them
right after), and sends the 👀s within Slack's reactions budget; grading follows the quiet period. After the load
the bench waits for the inbox to empty and counts the answers: every 200 must become an answer.
A separate process hosts a minimal Slack Web API and fires signed thread-reply events at a fixed
rate, timing each request until its HTTP status arrives.

    python -m bench.slack_ack            # prints the rows
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

from bench.common import Row, check, print_rows

if TYPE_CHECKING:
    from bot.app import RepBot

RATE = 200  # events per second
SECONDS = 10
CHANNELS = 40  # each with an open question; every (channel, user) pair answers once
USERS = 50
SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench"
TEAM = "T1"
TARGET = "<= 1.5"
FILING_TIMEOUT = 60  # seconds after the load for the inbox to empty
REQUEST_TIMEOUT = 5  # seconds; Slack itself gives up after 3 and redelivers, so later is a failure
ROOT = Path(__file__).resolve().parents[1]
TEST_BANK = ROOT / "tests" / "data" / "bank" / "test-bank.yaml"  # small and stable; the bench needs one question


# -- the load generator process (also hosts the fake Slack Web API) ------------------------------


def _sign(body: str, ts: str) -> str:
    return "v0=" + hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()


def _event(channel: str, thread: str, user: str, ts: str, text: str) -> str:
    return json.dumps(
        {
            "token": "legacy",
            "team_id": TEAM,
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": "Ev" + uuid.uuid4().hex[:16],
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM, "user_id": "UBOT", "is_bot": True, "is_enterprise_install": False}],
            "event": {
                "type": "message",
                "channel": channel,
                "channel_type": "channel",
                "user": user,
                "text": text,
                "ts": ts,
                "thread_ts": thread,
                "event_ts": ts,
            },
        }
    )


def _fake_slack(calls: dict[str, int] | None = None) -> web.Application:
    """Just enough Web API for both apps: auth.test, posting, users.info, reactions. `calls`
    counts requests per method (auth.test before an ack is what OAuth mode must not do)."""
    counter = iter(range(1, 10**9))
    calls = {} if calls is None else calls

    async def api(request: web.Request) -> web.Response:
        method = request.match_info["method"]
        calls[method] = calls.get(method, 0) + 1
        await request.read()
        if method == "auth.test":
            return web.json_response(
                {"ok": True, "team_id": TEAM, "user_id": "UBOT", "bot_id": "B1", "team": "bench", "user": "repbot"}
            )
        if method == "users.info":
            user = request.query.get("user", "U?")
            return web.json_response(
                {"ok": True, "user": {"id": user, "name": user.lower(), "profile": {"display_name": f"User {user}"}}}
            )
        if method == "chat.postMessage":
            n = next(counter)
            return web.json_response({"ok": True, "ts": f"{1700000000 + n}.{n:06d}"})
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/api/{method}", api)
    return app


async def _fire(session: ClientSession, url: str, body: str) -> tuple[float, int]:
    ts = str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": _sign(body, ts)}
    started = time.perf_counter()
    try:
        async with session.post(url, data=body.encode(), headers=headers) as response:
            status = response.status
            await response.read()
    except Exception:  # noqa: BLE001 - a failed request is counted, not fatal
        status = 0
    return (time.perf_counter() - started) * 1000, status


async def _load(config: dict[str, Any]) -> dict[str, Any]:
    url, threads, warm, users = config["url"], config["threads"], config["warm_thread"], config["users"]
    timeout = ClientTimeout(total=REQUEST_TIMEOUT)
    async with ClientSession(connector=TCPConnector(limit=0), timeout=timeout) as session:
        # Warm-up (not measured): every user once in a spare channel, so name caches and
        # connections are warm for both apps alike.
        for i, user in enumerate(users):
            await _fire(session, url, _event("CWARM", warm, user, f"1790000000.{i:06d}", "warm-up answer"))
        text = "I would route 1% of traffic to the canary next to a baseline and roll back automatically on errors."
        bodies = []
        channels = sorted(threads)
        for i in range(config["rate"] * config["seconds"]):
            channel = channels[i % len(channels)]
            user = users[(i // len(channels)) % len(users)]
            bodies.append(_event(channel, threads[channel], user, f"1800000000.{i:06d}", f"{text} #{i}"))
        tasks = []
        start = time.perf_counter()
        for i, body in enumerate(bodies):
            delay = start + i / config["rate"] - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_fire(session, url, body)))
        results = await asyncio.gather(*tasks)
        sent_over = time.perf_counter() - start
    statuses: dict[str, int] = {}
    for _, status in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {
        "latencies": [ms for ms, status in results if status == 200],
        "statuses": statuses,
        "seconds": sent_over,
        "started": start,  # perf_counter (CLOCK_MONOTONIC), comparable across processes
    }


async def _loadgen_main() -> None:
    calls: dict[str, int] = {}
    runner = web.AppRunner(_fake_slack(calls), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    print(f"READY {runner.addresses[0][1]}", flush=True)
    config = json.loads(await asyncio.to_thread(sys.stdin.readline))
    result = await _load(config)
    result["api_calls"] = dict(calls)  # from the app's start to the end of the load
    print(json.dumps(result), flush=True)
    # Keep serving the Web API until the app under test has shut down (its reactions, feedback).
    await asyncio.to_thread(sys.stdin.readline)
    await runner.cleanup()


# -- the apps under test (this process) ---------------------------------------------------------------


class _Rig:
    """One app under test, its load generator process and the fake API that process hosts."""

    def __init__(self, workdir: Path, name: str, db_url: str | None = None):
        self.db_url = db_url or f"sqlite+aiosqlite:///{workdir / (name + '.db')}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.slack_ack", "--loadgen"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        ready = self.proc.stdout.readline().split()
        if not ready or ready[0] != "READY":
            raise RuntimeError("load generator did not start")
        self.api_url = f"http://127.0.0.1:{ready[1]}/api/"

    async def measure(self, url: str, threads: dict[str, str], warm: str, rate: int, seconds: int) -> dict[str, Any]:
        config = {
            "url": url,
            "threads": threads,
            "warm_thread": warm,
            "users": [f"U{i:03d}" for i in range(USERS)],
            "rate": rate,
            "seconds": seconds,
        }
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(config) + "\n")
        self.proc.stdin.flush()
        line = await asyncio.to_thread(self.proc.stdout.readline)
        return json.loads(line)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("bye\n")
        self.proc.stdin.flush()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"


async def _floor(workdir: Path, rate: int, seconds: int, db_url: str | None = None) -> dict[str, Any]:
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient
    from sqlalchemy import text

    from adapters.launcher import freeze_startup_heap
    from storage.db import make_engine

    rig = _Rig(workdir, "floor", db_url)
    engine = make_engine(rig.db_url)
    key = "INTEGER PRIMARY KEY" if engine.dialect.name == "sqlite" else "BIGSERIAL PRIMARY KEY"
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE TABLE floor_answers (id {key}, source_id TEXT UNIQUE, body TEXT)"))
    app = AsyncApp(client=AsyncWebClient(token=TOKEN, base_url=rig.api_url), signing_secret=SECRET, process_before_response=True)

    @app.event("message")
    async def store(body: dict[str, Any]) -> None:
        event = body["event"]
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO floor_answers (source_id, body) VALUES (:s, :b)"),
                {"s": f"{body['team_id']}:{event['channel']}:{event['ts']}", "b": event["text"]},
            )

    runner, url = await _serve(app.web_app())
    freeze_startup_heap()
    try:
        threads = {f"C{i:02d}": f"1700000000.{i:06d}" for i in range(CHANNELS)}
        return await rig.measure(url, threads, "1700000000.999999", rate, seconds)
    finally:
        await runner.cleanup()
        await engine.dispose()
        rig.close()


async def open_questions(bot: RepBot, channels: int) -> tuple[dict[str, str], str]:
    """The day's question posted in `channels` channels and a warm-up one: (channel -> thread, warm-up thread)."""
    from bot.daily import schedule_of
    from bot.events import Place

    async def open_question(channel_ref: str) -> tuple[str, str]:
        channel = await bot.daily.ensure_channel(Place("slack", TEAM, channel_ref), channel_ref)
        posted = await bot.daily.post_daily(channel.id, schedule_of(channel).local_day(bot.clock.now()), "test-canary")
        assert posted is not None and posted.ref.thread_id
        return channel_ref, posted.ref.thread_id

    opened = dict(await asyncio.gather(*(open_question(f"C{i:02d}") for i in range(channels)), open_question("CWARM")))
    warm = opened.pop("CWARM")
    return opened, warm


async def _repbot(workdir: Path, rate: int, seconds: int, db_url: str | None = None) -> dict[str, Any]:
    from sqlalchemy import func, select

    from adapters.launcher import freeze_startup_heap
    from adapters.slack.adapter import SlackAdapter
    from bot.app import RepBot
    from bot.config import Settings
    from content.loader import QuestionBank, load_file
    from storage.models import AnswerMessage

    rig = _Rig(workdir, "repbot", db_url)
    settings = Settings(
        database_url=rig.db_url,
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=rig.api_url,
        slack_mode="http",
        slack_port=0,
    )
    questions, _ = load_file(TEST_BANK)
    adapter = SlackAdapter.from_settings(settings, host="127.0.0.1")
    bot = RepBot(settings, adapter.chat, bank=QuestionBank({q.id: q for q in questions}))
    await bot.start(schedule=False)  # grading worker on, as in production (default 20 s quiet period)
    await adapter.start(bot)
    try:
        opened, warm = await open_questions(bot, CHANNELS)
        freeze_startup_heap()  # as `repbot run` does once its adapters are up
        result = await rig.measure(f"http://127.0.0.1:{adapter.port}/slack/events", opened, warm, rate, seconds)
        done = time.perf_counter()
        while await bot.inbox.depth() and time.perf_counter() - done < FILING_TIMEOUT:
            await asyncio.sleep(0.05)
        result["filed_after"] = time.perf_counter() - done
        async with bot.sessions() as session:
            # Every acknowledged message is stored once (a person's later messages merge into
            # their answer, so messages, not answers, are what must match the 200s).
            result["messages"] = (await session.execute(select(func.count()).select_from(AnswerMessage))).scalar_one()
        result["held"] = await bot.inbox.depth()
        return result
    finally:
        await adapter.stop()
        await bot.stop()
        rig.close()


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1] if len(values) > 1 else values[0]


def ack_figures(result: dict[str, Any]) -> tuple[dict[str, float], str]:
    """p50/p99 ack latency of one rig run, and the detail line that says how many got a 200."""
    lat = result["latencies"]
    sent = sum(result["statuses"].values())
    detail = f"{len(lat)}/{sent} answered 200 in {result['seconds']:.1f} s; statuses {result['statuses']}"
    return {"p50": _pct(lat, 50), "p99": _pct(lat, 99)}, detail


def run(rate: int = RATE, seconds: int = SECONDS) -> list[Row]:
    """Floor first, then RepBot, each against a fresh SQLite file and a fresh load process."""
    # Overload shows up as non-200 statuses in the rows; per-request tracebacks would drown them.
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("slack_bolt").setLevel(logging.CRITICAL)
    load = os.getloadavg()[0]  # other work on the rig skews both apps; shown with the ratio
    with tempfile.TemporaryDirectory(prefix="repbot-bench-") as tmp:
        floor = asyncio.run(_floor(Path(tmp), rate, seconds))
        repbot = asyncio.run(_repbot(Path(tmp), rate, seconds))
    rows: list[Row] = []
    figures: dict[str, dict[str, float]] = {}
    for name, result in (("RepBot", repbot), ("floor", floor)):
        figures[name], detail = ack_figures(result)
        rows.append(Row(f"slack ack p50 {name}", round(figures[name]["p50"], 2), "ms", detail=detail))
        rows.append(Row(f"slack ack p99 {name}", round(figures[name]["p99"], 2), "ms", detail=detail))
    sent = sum(repbot["statuses"].values()) + USERS  # the warm-up answers are answers too
    accepted = len(repbot["latencies"]) + USERS
    rows.append(
        Row(
            "slack answers filed / accepted",
            round(repbot["messages"] / accepted, 3),
            "ratio",
            ">= 1",
            repbot["messages"] >= accepted and repbot["held"] == 0,
            f"{repbot['messages']} answer messages stored for {accepted} accepted of {sent} sent; inbox empty "
            f"{repbot['filed_after']:.1f} s after the last 200 ({repbot['held']} still held)",
        )
    )
    for p in ("p50", "p99"):
        ratio = figures["RepBot"][p] / figures["floor"][p]
        rows.append(
            Row(
                f"slack ack {p} RepBot / floor",
                round(ratio, 2),
                "ratio",
                TARGET,
                check(ratio, TARGET),
                f"{figures['RepBot'][p]:.2f} ms / {figures['floor'][p]:.2f} ms at {rate}/s for {seconds} s; "
                f"load average {load:.1f} on {os.cpu_count()} CPUs at start",
            )
        )
    return rows


def main() -> None:
    if "--loadgen" in sys.argv:
        asyncio.run(_loadgen_main())
        return
    parser = argparse.ArgumentParser(description="Slack ack latency: RepBot vs a floor app")
    parser.add_argument("--rate", type=int, default=RATE, help="events per second")
    parser.add_argument("--seconds", type=int, default=SECONDS)
    args = parser.parse_args()
    print_rows(run(args.rate, args.seconds))


if __name__ == "__main__":
    main()
