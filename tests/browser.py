"""Headless Chromium for the dashboard's browser tests and README screenshots.

Debian's chromium package (never a browser that Playwright downloads: `playwright install` needs
the internet). The flags keep Chromium from calling home: no background networking, component
updates, sync or QUIC probes, so a test only ever talks to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
ARGS = [
    "--headless",
    "--no-sandbox",  # root in containers and CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAPTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def chromium_path() -> str | None:
    """REPBOT_CHROMIUM, else Debian's chromium, else whatever `chromium` is on PATH."""
    configured = os.environ.get("REPBOT_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    for candidate in CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


def missing_browser_reason() -> str | None:
    """Why browser tests cannot run here, or None when they can."""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    if chromium_path() is None:
        return "no Chromium found (apt-get install -y chromium, or set REPBOT_CHROMIUM)"
    return None


PAGES = (("overview", ""), ("topics", "topics"), ("questions", "questions"), ("people", "people"))


async def capture(page: Any, link: str, folder: Path) -> list[Path]:
    """Screenshots of every dashboard page on a laptop, and the overview on a phone. The browser
    tests save them under their temp folder; `python -m tests.dashboard_screenshots` saves the
    README's copies the same way."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    saved = []
    await page.set_viewport_size(LAPTOP)
    for name, path in PAGES:
        response = await page.goto(link + path)
        assert response is not None and response.status == 200, (name, response and response.status)
        saved.append(folder / f"dashboard-{name}.png")
        await page.screenshot(path=str(saved[-1]), full_page=True)
    await page.set_viewport_size(PHONE)
    await page.goto(link)
    saved.append(folder / "dashboard-phone.png")
    await page.screenshot(path=str(saved[-1]), full_page=True)
    await page.set_viewport_size(LAPTOP)
    return saved
