"""Write the README's dashboard screenshots with the browser tests' code path:

    .venv/bin/python -m tests.dashboard_screenshots docs/img

A seeded team on a temporary SQLite file, a link from the real `dashboard` command, Debian's
Chromium through Playwright, and `tests.browser.capture`.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import tempfile
from pathlib import Path

from playwright.async_api import async_playwright

from content.loader import QuestionBank, load_file
from storage.db import upgrade
from tests.browser import ARGS, capture, chromium_path, missing_browser_reason
from tests.dashboard_env import dashboard_link, seed_history, start_team

BANK = Path(__file__).parent / "data" / "bank" / "test-bank.yaml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def main(folder: Path) -> list[Path]:
    questions, problems = load_file(BANK)
    assert not problems, problems
    bank = QuestionBank({q.id: q for q in questions})
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'repbot.db'}"
        await upgrade(url)
        team = await start_team(url, bank, _free_port())
        try:
            await seed_history(team, bank)
            link = await dashboard_link(team)
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=chromium_path(), args=ARGS)
                try:
                    return await capture(await browser.new_page(), link, folder)
                finally:
                    await browser.close()
        finally:
            await team.close()


if __name__ == "__main__":
    reason = missing_browser_reason()
    if reason:
        raise SystemExit(reason)
    for path in asyncio.run(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img"))):
        print(path)
