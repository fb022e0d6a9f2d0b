"""A sustained stream of Slack answers: 200 answers/s for 60 s, on SQLite and on PostgreSQL.

The rig is bench.slack_ack's (RepBot's HTTP-mode app next to a floor app doing one INSERT per
event, each with its own load process hosting the fake Web API), run for a minute instead of ten
seconds. A stream that long outlasts the 20 s quiet period, so RepBot's inbox files answers while
acks go on: the rows show whether acks stay near the floor meanwhile (p99 <= 2x) and whether
filing keeps up (the inbox empty <= 2 s after the last ack, every acked answer stored).

    python -m bench.slack_stream [--seconds 60] [--rate 200] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from bench.common import Row, check, print_rows
from bench.slack_ack import USERS, _floor, _pct, _repbot

RATE = 200
SECONDS = 60
ACK_TARGET = "<= 2"  # RepBot's ack p99 over the floor's
DRAIN_TARGET = "<= 2"  # seconds from the last ack until the inbox is empty
PG_URL = os.environ.get("REPBOT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(_dsn(PG_URL), timeout=3)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _postgres_db() -> str | None:
    """A fresh database for one app; None when PostgreSQL is not reachable."""
    name = f"repbot_stream_{secrets.token_hex(4)}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except Exception:  # noqa: BLE001 - reported as a skipped row
        return None
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def _drop(url: str) -> None:
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))


def _measure(backend: str, rate: int, seconds: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(floor, RepBot) results on fresh databases of that backend, floor first."""
    with tempfile.TemporaryDirectory(prefix="repbot-stream-") as tmp:
        if backend == "sqlite":
            return asyncio.run(_floor(Path(tmp), rate, seconds)), asyncio.run(_repbot(Path(tmp), rate, seconds))
        urls = [_postgres_db(), _postgres_db()]
        try:
            if None in urls:
                return None
            floor = asyncio.run(_floor(Path(tmp), rate, seconds, urls[0]))
            return floor, asyncio.run(_repbot(Path(tmp), rate, seconds, urls[1]))
        finally:
            for url in urls:
                if url is not None:
                    _drop(url)


def _rows(backend: str, floor: dict[str, Any], repbot: dict[str, Any], rate: int, seconds: int, load: float) -> list[Row]:
    p50 = {name: _pct(r["latencies"], 50) for name, r in (("RepBot", repbot), ("floor", floor))}
    p99 = {name: _pct(r["latencies"], 99) for name, r in (("RepBot", repbot), ("floor", floor))}
    ratio = p99["RepBot"] / p99["floor"]
    sent = sum(repbot["statuses"].values())
    accepted = len(repbot["latencies"]) + USERS  # the warm-up answers are answers too
    filed_ok = repbot["messages"] >= accepted and repbot["held"] == 0
    drained = repbot["filed_after"]
    return [
        Row(
            f"slack stream {backend} ack p99 RepBot / floor",
            round(ratio, 2),
            "ratio",
            ACK_TARGET,
            check(ratio, ACK_TARGET),
            f"p99 {p99['RepBot']:.2f} / {p99['floor']:.2f} ms, p50 {p50['RepBot']:.2f} / {p50['floor']:.2f} ms; "
            f"{rate}/s for {seconds} s; RepBot {len(repbot['latencies'])}/{sent} answered 200 "
            f"{repbot['statuses']}; load average {load:.1f} on {os.cpu_count()} CPUs at start",
        ),
        Row(
            f"slack stream {backend} inbox empty after the last ack",
            round(drained, 1),
            "s",
            DRAIN_TARGET,
            check(drained, DRAIN_TARGET) and filed_ok,
            f"{repbot['messages']} answer messages stored for {accepted} accepted; {repbot['held']} still held",
        ),
    ]


def run(rate: int = RATE, seconds: int = SECONDS, backends: tuple[str, ...] = ("sqlite", "postgresql")) -> list[Row]:
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("slack_bolt").setLevel(logging.CRITICAL)
    rows: list[Row] = []
    for backend in backends:
        load = os.getloadavg()[0]
        measured = _measure(backend, rate, seconds)
        if measured is None:
            rows.append(Row(f"slack stream {backend}", float("nan"), detail="PostgreSQL not reachable: skipped"))
            continue
        rows.extend(_rows(backend, *measured, rate, seconds, load))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="Slack acks and filing under a sustained answer stream")
    parser.add_argument("--rate", type=int, default=RATE, help="answers per second")
    parser.add_argument("--seconds", type=int, default=SECONDS)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    print_rows(run(args.rate, args.seconds, (args.only,) if args.only else ("sqlite", "postgresql")))


if __name__ == "__main__":
    main()
