"""Headless Chromium for the dashboard's browser tests and README screenshots.

Debian's chromium package (never a browser that Playwright downloads: `playwright install` needs
the internet). The flags keep Chromium from calling home: no background networking, component
updates, sync or QUIC probes, so a test only ever talks to 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

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
