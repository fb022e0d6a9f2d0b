"""The dashboard in a real browser: Playwright driving Debian's Chromium against the bot's own
HTTP server, with a link made by the real `dashboard` command on the fake chat.

Without Playwright or Chromium these tests skip with the reason; REPBOT_REQUIRE_BROWSER=1 (as
.ci/run sets) makes them fail instead.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.leaderboard import week_start
from content.loader import QuestionBank
from tests.browser import ARGS, PHONE, capture, chromium_path, missing_browser_reason
from tests.dashboard_env import HOSTILE, dashboard_link, heatmap_from_db, seed_history, start_team
from tests.harness import Team

REQUIRE = os.environ.get("REPBOT_REQUIRE_BROWSER") == "1"


@pytest.fixture
def browser_available() -> None:
    reason = missing_browser_reason()
    if reason:
        if REQUIRE:
            pytest.fail(f"REPBOT_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)


@pytest_asyncio.fixture
async def seeded(browser_available: None, sqlite_url: str, test_bank: QuestionBank, unused_tcp_port: int) -> AsyncIterator[Team]:
    team = await start_team(sqlite_url, test_bank, unused_tcp_port)
    try:
        await seed_history(team, test_bank)
        yield team
    finally:
        await team.close()


@pytest_asyncio.fixture
async def page(seeded: Team) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path(), args=ARGS)
        try:
            yield await browser.new_page()
        finally:
            await browser.close()


async def table(page: Any, selector: str) -> list[list[str]]:
    rows = page.locator(f"{selector} tbody tr")
    return [[c.strip() for c in await rows.nth(i).locator("td").all_inner_texts()] for i in range(await rows.count())]


async def test_a_manager_reads_the_dashboard(seeded: Team, page: Any, test_bank: QuestionBank, tmp_path: Path) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    link = await dashboard_link(seeded)

    response = await page.goto(link)
    assert response.status == 200
    assert "script-src" not in response.headers["content-security-policy"]
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert await page.title() == "Overview · #team · RepBot"

    # Leaderboards: the rows the core's leaderboard reads from the database, in order.
    channel = await seeded.channel()
    monday = week_start(seeded.clock.now().date())
    for selector, rows in (
        ("#board-week", await seeded.bot.board.period(channel.id, monday)),
        ("#board-all", await seeded.bot.board.all_time(channel.id)),
    ):
        expected = [[str(i), r.name, str(r.points), str(r.answers)] for i, r in enumerate(rows, 1)]
        assert len(expected) == 4
        assert await table(page, selector) == expected
    # The hostile display name is text in the page, never an element; nothing ran.
    assert HOSTILE in [row[1] for row in await table(page, "#board-all")]
    assert await page.locator("main img").count() == 0
    assert dialogs == []

    # Charts have text alternatives.
    for chart in await page.locator("svg[role=img][aria-labelledby]").all():
        title_id = (await chart.get_attribute("aria-labelledby")).split()[0]
        assert (await page.locator(f"#{title_id}").text_content()).strip()

    # Topics: every heatmap cell against the database.
    await page.get_by_role("link", name="Topics").click()
    await page.wait_for_url(re.compile(r"/topics$"))
    expected_cells = await heatmap_from_db(seeded, test_bank)
    cells = page.locator("#heatmap td[data-average]")
    shown = {}
    for i in range(await cells.count()):
        cell = cells.nth(i)
        key = (await cell.get_attribute("data-category"), await cell.get_attribute("data-week"))
        shown[key] = (await cell.get_attribute("data-average"), await cell.get_attribute("data-answers"))
        assert (await cell.inner_text()).startswith(shown[key][0])
    assert shown == {k: (f"{avg:.1f}", str(n)) for k, (avg, n) in expected_cells.items()}
    assert len(shown) == 4  # two categories x two weeks
    rows = await page.locator("#heatmap tbody th[scope=row]").all_inner_texts()
    averages = {c: sum(a * n for (cc, _), (a, n) in expected_cells.items() if cc == c) for c in rows}
    counts = {c: sum(n for (cc, _), (_, n) in expected_cells.items() if cc == c) for c in rows}
    assert [averages[c] / counts[c] for c in rows] == sorted(averages[c] / counts[c] for c in rows)  # weakest first

    # Questions: follow the first day's question to its page.
    await page.get_by_role("link", name="Questions").click()
    await page.wait_for_url(re.compile(r"/questions$"))
    await page.locator("#questions tbody tr", has_text="2026-03-02").get_by_role("link").click()
    await page.wait_for_url(re.compile(r"/questions/\d+$"))
    canary = test_bank.get("test-canary")
    assert canary is not None
    assert await page.locator("h1").inner_text() == canary.title
    assert await page.locator("#answers").inner_text() == "4"
    assert await page.locator("#rubric tbody tr").count() == len(canary.rubric)
    await page.get_by_role("link", name="All questions").click()
    await page.wait_for_url(re.compile(r"/questions$"))

    # A phone: the page fits the width (tables scroll inside their own box), the nav is there.
    await page.set_viewport_size(PHONE)
    await page.goto(link)
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert await page.get_by_role("link", name="People").is_visible()

    saved = await capture(page, link, tmp_path / "screens")
    assert [p.name for p in saved] == [
        "dashboard-overview.png",
        "dashboard-topics.png",
        "dashboard-questions.png",
        "dashboard-people.png",
        "dashboard-phone.png",
    ]
    assert all(p.stat().st_size > 10_000 and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in saved)
    assert dialogs == []


async def test_bad_links_show_nothing_in_the_browser(seeded: Team, page: Any) -> None:
    link = await dashboard_link(seeded)
    base, token = link.rstrip("/").rsplit("/", 1)
    forged = f"{base}/{token[:-3]}{'aaa' if token[-3:] != 'aaa' else 'bbb'}/"
    response = await page.goto(forged)
    assert response.status == 403
    assert "not valid" in await page.locator("h1").inner_text()
    assert "Alice" not in await page.content()

    assert (await page.goto(link)).status == 200
    seeded.clock.advance(days=8)  # past the 7-day lifetime
    response = await page.goto(link)
    assert response.status == 403 and "Alice" not in await page.content()
