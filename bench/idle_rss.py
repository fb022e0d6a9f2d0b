"""Resident memory of an idle bot process: schema checked, bank loaded, scheduler and grading
worker running, nothing to do. Measured from /proc after it settles.

    python -m bench.idle_rss
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Row, print_rows

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import asyncio, sys
from bot.app import RepBot
from bot.config import Settings
from tests.fake_chat import FakeChat

async def main():
    bot = RepBot(Settings(database_url=sys.argv[1]), FakeChat())
    await bot.start()
    print("ready", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def run() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'idle.db'}"
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, url], cwd=ROOT, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)}
        )
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
            time.sleep(3)
            samples = []
            for _ in range(5):
                samples.append(_rss_mib(proc.pid))
                time.sleep(0.4)
        finally:
            proc.kill()
            proc.wait()
    return [
        Row(
            "idle RSS (bundled bank, scheduler + worker)",
            max(samples),
            "MiB",
            detail=f"samples {', '.join(f'{s:.0f}' for s in samples)}",
        )
    ]


if __name__ == "__main__":
    print_rows(run())
