"""The team dashboard over HTTP, on SQLite and PostgreSQL: links from the real `dashboard` command,
what each page shows, and what a bad link, a hostile name or a private channel setting gets."""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from aiohttp import ClientSession

from bot.dashboard.links import DashboardLinks, Scope
from bot.events import CommandInvoked, Person, Place
from bot.leaderboard import week_start
from content.loader import QuestionBank
from storage.db import make_engine, make_sessionmaker
from tests.dashboard_env import HOSTILE, PARTIAL, URL, WEAK, dashboard_link, seed_history, start_team
from tests.harness import Team

PAGES = ("", "topics", "questions", "people")
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


@pytest_asyncio.fixture
async def seeded(db_url: str, test_bank: QuestionBank, unused_tcp_port: int) -> AsyncIterator[Team]:
    team = await start_team(db_url, test_bank, unused_tcp_port)
    try:
        await seed_history(team, test_bank)
        yield team
    finally:
        await team.close()


async def fetch(url: str) -> tuple[int, str, dict[str, str]]:
    async with ClientSession() as http, http.get(url, allow_redirects=False) as resp:
        return resp.status, await resp.text(), dict(resp.headers)


def tampered(link: str, old: str, new: str) -> str:
    """The same link with its payload edited and the original signature kept."""
    base, token = link.rstrip("/").rsplit("/", 1)
    prefix, payload, signature = token.split(".")
    raw = base64.b32decode(payload.upper() + "=" * (-len(payload) % 8)).replace(old.encode(), new.encode())
    return f"{base}/{prefix}.{base64.b32encode(raw).decode().rstrip('=').lower()}.{signature}/"


async def test_a_link_from_the_command_opens_every_page_with_safe_headers(seeded: Team) -> None:
    link = await dashboard_link(seeded)
    for page in PAGES:
        status, body, headers = await fetch(link + page)
        assert status == 200, page
        csp = headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp and "unsafe-inline" not in csp
        assert headers["Referrer-Policy"] == "no-referrer" and headers["Cache-Control"] == "no-store"
        assert "<script" not in body.lower()
        assert 'href="../static/dashboard.css"' in body  # relative: works under a proxy's path prefix
    status, css, _ = await fetch(link + "../static/dashboard.css")
    assert status == 200 and "--ink" in css
    status, _, headers = await fetch(link.rstrip("/"))
    assert status == 302 and headers["Location"] == link.rstrip("/").rsplit("/", 1)[1] + "/"


async def test_a_hostile_display_name_is_text_everywhere(seeded: Team) -> None:
    link = await dashboard_link(seeded)
    _, overview, _ = await fetch(link)
    assert ESCAPED in overview  # on the leaderboards and the streaks
    for page in PAGES:
        _, body, _ = await fetch(link + page)
        assert HOSTILE not in body and "<img" not in body, page


async def test_bad_links_get_403_and_show_nothing(seeded: Team) -> None:
    link = await dashboard_link(seeded)
    base, token = link.rstrip("/").rsplit("/", 1)
    prefix, payload, signature = token.split(".")
    flipped = signature[:-2] + ("b" if signature[-2] != "b" else "c") + signature[-1]
    bad = [
        f"{base}/{prefix}.{payload}.{flipped}/",  # forged signature
        tampered(link, '"C1"', '"C9"'),  # another channel, original signature
        f"{base}/v1.{payload}/",
        f"{base}/not-a-token/",
        f"{base}/{'v1.' + 'A' * 2000}/",
        f"{base}/{prefix}.{payload}.%%%%/",
    ]
    for url in bad:
        for page in ("", "questions/1", "people"):
            status, body, headers = await fetch(url + page)
            assert status == 403, (url, page)
            assert "Alice" not in body and "team" not in body and "Content-Security-Policy" in headers
    assert (await fetch(link))[0] == 200  # the real one still works

    seeded.clock.advance(days=7, seconds=1)  # past the default lifetime
    status, body, _ = await fetch(link)
    assert status == 403 and "Alice" not in body


async def test_revoke_turns_off_every_link_of_the_workspace_and_only_that_workspace(seeded: Team) -> None:
    channel_link = await dashboard_link(seeded)
    workspace_link = await dashboard_link(seeded, "workspace")
    other = Place("test", "T2", "C2")
    reply = await seeded.bot.handle(CommandInvoked(other, Person("test", "T2", "zed", "Zed"), "dashboard", (), is_admin=True))
    found = URL.search(reply.message.text())
    assert found
    other_link = found.group(0)
    for url in (channel_link, workspace_link, other_link):
        assert (await fetch(url))[0] == 200
    _, body, _ = await fetch(other_link)
    assert "Alice" not in body  # another workspace's link sees only its own channel
    status, body, _ = await fetch(other_link + "questions/1")  # T1's first post
    assert status == 404 and "canary" not in body
    assert (await fetch(tampered(other_link, '"T2","C2"', '"T1","C1"')))[0] == 403

    reply = await seeded.command("boss", "dashboard", "revoke", admin=True)
    assert "turned off" in reply.message.text() and reply.private
    assert (await fetch(channel_link))[0] == 403
    assert (await fetch(workspace_link + "topics"))[0] == 403
    assert (await fetch(other_link))[0] == 200  # T2 was not revoked
    assert (await fetch(await dashboard_link(seeded)))[0] == 200  # a new link works again


async def test_people_rows_follow_the_channels_report_setting(seeded: Team) -> None:
    link = await dashboard_link(seeded)
    _, people, _ = await fetch(link + "people")
    assert "Alice" in people and ESCAPED in people and "Mock interviews started: 0" in people
    await seeded.command("boss", "schedule", "set", "details", "off", admin=True)
    _, people, _ = await fetch(link + "people")
    assert "Alice" not in people and "Carol" not in people and ESCAPED not in people
    assert "Per-person rows are turned off" in people
    # No page ever shows answer text, whatever the setting.
    for page in (*PAGES, "questions/1", "questions/2"):
        _, body, _ = await fetch(link + page)
        assert PARTIAL["test-canary"][:40] not in body and WEAK[:40] not in body, page


async def test_question_pages_show_the_rubric_only_after_the_reveal(seeded: Team, test_bank: QuestionBank) -> None:
    link = await dashboard_link(seeded)
    canary = test_bank.get("test-canary")
    assert canary is not None
    _, listing, _ = await fetch(link + "questions")
    assert listing.count('href="./questions/') == 5
    status, closed, _ = await fetch(link + "questions/1")
    assert status == 200 and "baseline of the old" in closed and canary.model_answer.split()[3] in closed
    assert 'id="answers">4<' in closed  # four people answered the first question
    status, still_open, _ = await fetch(link + "questions/5")
    assert status == 200 and "shown after the question is revealed" in still_open
    assert "weighted routing" not in still_open  # the model answer's words
    assert (await fetch(link + "questions/999"))[0] == 404
    assert (await fetch(link + "questions/abc"))[0] == 404


async def test_the_command_is_for_admins_and_says_what_is_missing(
    db_url: str,
    test_bank: QuestionBank,
    clock,
    chat,  # type: ignore[no-untyped-def]
) -> None:
    team = await Team.create(db_url, test_bank, clock, chat)  # no REPBOT_HTTP_PORT
    try:
        refused = await team.command("alice", "dashboard")
        assert "for RepBot admins" in refused.message.text()
        no_port = await team.command("boss", "dashboard", admin=True)
        assert "REPBOT_HTTP_PORT" in no_port.message.text() and "/dashboard/" not in no_port.message.text()
        usage = await team.command("boss", "dashboard", "everything", admin=True)
        assert "dashboard workspace" in usage.message.text()
        dm = Place("test", "T1", "dm-boss", is_dm=True)
        reply = await team.bot.handle(CommandInvoked(dm, team.person("boss"), "dashboard", (), is_admin=True))
        assert "team channel" in reply.message.text() and "/dashboard/" not in reply.message.text()
        helped = await team.command("boss", "help", admin=True)
        assert "dashboard [workspace|revoke]" in helped.message.text()
    finally:
        await team.close()


async def test_the_signing_key_is_kept_in_the_database_when_none_is_configured(db_url: str, clock) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(db_url)
    try:
        sessions = make_sessionmaker(engine)
        week = dt.timedelta(days=7)
        first = DashboardLinks(sessions, clock, week)
        token, expires = await first.issue(Scope("test", "T1", "C1"))
        assert expires == clock.now() + week
        # A restart (a new instance) and a second replica both accept it: same key, from the database.
        again = DashboardLinks(sessions, clock, week)
        grant = await again.check(token)
        assert grant is not None and grant.scope == Scope("test", "T1", "C1")
        # A configured secret signs differently: links made with the database key stop working.
        configured = DashboardLinks(sessions, clock, week, configured_secret="a configured secret of some length")
        assert await configured.check(token) is None
        assert await configured.check((await configured.issue(Scope("test", "T1")))[0]) is not None
        await again.revoke("test", "T1")
        await again.revoke("test", "T1")
        assert await again.generation("test", "T1") == 2 and await first.check(token) is None
    finally:
        await engine.dispose()


async def test_overview_counts_match_the_database(seeded: Team) -> None:
    """Participation and the week's leaderboard on the overview, against the core's own reads."""
    link = await dashboard_link(seeded)
    _, overview, _ = await fetch(link)
    channel = await seeded.channel()
    today = seeded.clock.now().date()
    rows = await seeded.bot.board.period(channel.id, week_start(today))
    for i, row in enumerate(rows, 1):
        name = row.name.replace("<", "&lt;").replace(">", "&gt;")
        assert f'<tr><td>{i}</td><td class="name">{name}</td><td class="num">{row.points}</td>' in overview
    report = await seeded.bot.reports.report(channel.id, week_start(today), today, "week")
    assert report.participation is not None
    assert f'<p class="big">{100 * report.participation:.0f}%</p>' in overview


def test_ci_installs_chromium_and_requires_the_browser_tests() -> None:
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    assert "apt-get install" in ci and "chromium" in ci and "REPBOT_REQUIRE_BROWSER=1" in ci
    assert ci.index("REPBOT_REQUIRE_BROWSER=1") < ci.index("make test")


def test_the_console_prints_a_local_link(tmp_path: Path, unused_tcp_port: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPBOT_", "SLACK_", "DISCORD_"))}
    env.update(PYTHONPATH=str(Path(__file__).resolve().parents[1]), REPBOT_HTTP_PORT=str(unused_tcp_port))
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"],
        cwd=tmp_path,
        input="/dashboard\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    found = re.search(rf"http://localhost:{unused_tcp_port}/dashboard/(v1\.\S+)/", result.stdout)
    assert found, result.stdout
    assert found.group(1) not in result.stderr  # the link is printed for the admin, never logged


async def test_the_link_survives_slack_and_discord_rendering(seeded: Team) -> None:
    """Chat renderers escape markup in text (Slack turns `_` into a look-alike): the link must come
    through every one of them unchanged, and still open the page."""
    from adapters.discord.render import render_single
    from adapters.slack.render import render_one

    reply = await seeded.command("boss", "dashboard", admin=True)
    link = await dashboard_link(seeded)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/dashboard/v1\.[a-z2-7]+\.[a-z2-7]+/", link)
    discord = render_single(reply.message)
    for rendered in (repr(render_one(reply.message)), repr((discord.content, [e.to_dict() for e in discord.embeds]))):
        found = URL.search(rendered)
        assert found, rendered
        assert (await fetch(found.group(0)))[0] == 200


async def test_slack_admin_gets_the_link_privately_through_the_real_client(
    sqlite_url: str,
    test_bank: QuestionBank,
    clock,
    unused_tcp_port: int,  # type: ignore[no-untyped-def]
) -> None:
    """`/repbot dashboard` through slack-bolt to the fake Slack: an ephemeral reply whose link is intact."""
    from tests.fake_slack import FakeSlack, SlackRig, flatten

    fake = await FakeSlack().start()
    fake.add_user("U1", "Alice")
    fake.add_user("UADMIN", "Olga", admin=True)
    rig = await SlackRig.start(fake, sqlite_url, test_bank, clock, public_url="https://repbot.example.com/team")
    try:
        assert await rig.command("dashboard", user="U1") == 200
        assert await rig.command("dashboard", user="UADMIN") == 200
        responses = await fake.wait_responses(2)
        texts = [flatten(r) for r in responses]
        assert all(r.get("response_type") == "ephemeral" for r in responses)
        assert any("admin" in t.lower() and "/dashboard/" not in t for t in texts)
        found = [
            m for t in texts for m in re.findall(r"https://repbot\.example\.com/team/dashboard/(v1\.[a-z2-7]+\.[a-z2-7]+)/", t)
        ]
        assert len(found) == 1, [t[:400] for t in texts]
        grant = await rig.bot.dashboard_links.check(found[0])
        assert grant is not None and grant.scope == Scope("slack", grant.scope.workspace, "C1")
        assert not fake.of("chat.postMessage", lambda c: "/dashboard/" in flatten(c.params))  # never in the channel
    finally:
        await rig.close()
        await fake.stop()


def test_a_configured_signing_key_is_masked_and_scrubbed_from_logs() -> None:
    from bot.config import Settings

    settings = Settings(dashboard_secret="a-configured-dashboard-key", public_url="https://tools.example.com/repbot/")
    assert settings.masked()["dashboard_secret"] == "****"
    assert "a-configured-dashboard-key" in settings.secrets()  # the log filter replaces every one of these
    assert settings.public_url == "https://tools.example.com/repbot"
