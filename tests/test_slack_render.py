"""Slack rendering and payload parsing, table-driven: escaping, Block Kit limits, event mapping."""

from __future__ import annotations

import json
import re

import pytest

from adapters.slack.events import (
    Kind,
    plain_from_slack,
    read_command,
    read_message,
    read_submission,
    source_id,
    to_event,
)
from adapters.slack.people import AdminList
from adapters.slack.render import (
    MAX_BLOCKS,
    MAX_SECTION,
    MAX_TEXT,
    mrkdwn_escape,
    render,
    render_one,
    render_view_blocks,
)
from adapters.slack.views import private_answer_modal
from bot.events import AnswerDeleted, AnswerEdited, AnswerPosted, DirectMessage
from bot.messages import Button, Buttons, CodeBlock, Context, Fields, Header, Image, Section, bold, code, message, quote
from tests.fake_slack import FORBIDDEN, _limit_problems, deleted, edited, event_callback, thread_reply

NASTY = "<!channel> <!here> <!everyone> <@U999> <#C123|general> <!subteam^S1|@oncall> @channel @here *bold* _it_ ~x~ `c` &amp;"


def payload(rendered) -> str:  # type: ignore[no-untyped-def]
    return json.dumps([{"text": m.text, "blocks": list(m.blocks)} for m in rendered.messages])


@pytest.mark.parametrize(
    "raw, must_not_contain",
    [
        ("<!channel>", "<!channel>"),
        ("<@U123>", "<@U123>"),
        ("<#C42>", "<#C42>"),
        ("<!subteam^S1>", "<!subteam"),
        ("a & b", "a & b"),
        ("@here now", "@here"),
        ("@Everyone hi", "@Everyone"),
        ("*bold*", "*bold*"),
        ("_it_", "_it_"),
        ("~strike~", "~strike~"),
        ("`code`", "`code`"),
        ("> quoted", "> quoted"),
        ("line\n>quoted", "\n>"),
        ("<https://evil.example|click me>", "<https://"),
        ("\u202eevil", "\u202e"),
    ],
)
def test_user_text_is_neutralised(raw: str, must_not_contain: str) -> None:
    out = mrkdwn_escape(raw)
    assert must_not_contain not in out
    assert "<" not in out and ">" not in out.replace("&gt;", "")


def test_escaping_keeps_the_words_readable() -> None:
    out = mrkdwn_escape("a < b && c > d")
    assert out == "a &lt; b &amp;&amp; c &gt; d"


def test_styles_come_only_from_our_markers() -> None:
    rendered = render(message(Section.of(bold("Covered: "), "user *text*", code("x`y"), quote("their > words"))))
    text = rendered.messages[0].blocks[0]["text"]["text"]
    assert text.startswith("*Covered:* ")  # whitespace kept outside the markers so Slack bolds it
    assert "*text*" not in text
    assert "`x\u02cby`" in text
    assert "\n>their &gt; words" in text


def test_nothing_forbidden_survives_any_block_type() -> None:
    msg = message(
        Header(NASTY),
        Section.of(NASTY, bold(NASTY), code(NASTY), quote(NASTY)),
        Fields(((NASTY, NASTY),)),
        CodeBlock(NASTY),
        Context(NASTY),
        Buttons((Button("hint", NASTY, "1"),)),
        summary=NASTY,
    )
    out = payload(render(msg)) + json.dumps(render_view_blocks(msg))
    for bad in FORBIDDEN:
        assert bad not in out, bad
    assert "@channel" not in out and "@here" not in out


def test_long_section_splits_within_limits() -> None:
    msg = message(Section.of("word " * 20_000), summary="long")  # 100,000 characters
    rendered = render(msg)
    assert len(rendered.messages) > 1
    for m in rendered.messages:
        assert len(m.blocks) <= MAX_BLOCKS
        assert len(m.text) <= MAX_TEXT
        assert not _limit_problems(list(m.blocks), 50)
        assert all(len(b["text"]["text"]) <= MAX_SECTION for b in m.blocks)
    joined = "".join(b["text"]["text"] for m in rendered.messages for b in m.blocks)
    assert joined.count("word") == 20_000  # split, not lost


def test_entity_heavy_text_still_fits() -> None:
    rendered = render(message(Section.of("&<>" * 5000), CodeBlock("&" * 9000)))
    for m in rendered.messages:
        assert not _limit_problems(list(m.blocks), 50)


def test_many_blocks_split_into_messages() -> None:
    msg = message(*[Section.of(f"line {i}") for i in range(120)], summary="many")
    rendered = render(msg)
    assert [len(m.blocks) for m in rendered.messages] == [50, 50, 20]
    assert "continued" in rendered.messages[1].text


def test_continued_text_never_cuts_an_entity_in_half() -> None:
    msg = message(*[Section.of(f"line {i}") for i in range(120)], summary="x" * 197 + "&<>" * 20)
    rendered = render(msg)
    assert len(rendered.messages) == 3
    for part in rendered.messages[1:]:
        head, _, rest = part.text.partition(" (continued ")
        assert rest and len(head) <= 200 and head.endswith("…")
        assert not re.search(r"&(?!amp;|lt;|gt;)", part.text), part.text


def test_fields_and_header_limits() -> None:
    msg = message(Header("H" * 400), Fields(tuple((f"k{i}", "v" * 3000) for i in range(23))))
    rendered = render(msg)
    blocks = [b for m in rendered.messages for b in m.blocks]
    assert len(blocks[0]["text"]["text"]) <= 150 and blocks[0]["text"]["text"].endswith("…")
    fields = [f for b in blocks[1:] for f in b["fields"]]
    assert len(fields) == 23 and all(len(f["text"]) <= 2000 and f["text"].endswith("…") for f in fields)
    assert all(len(b["fields"]) <= 10 for b in blocks[1:])
    assert all(not _limit_problems(list(m.blocks), 50) for m in rendered.messages)
    few = render(message(Fields(tuple((f"k{i}", "v") for i in range(23))))).messages[0].blocks
    assert [len(b["fields"]) for b in few] == [10, 10, 3]


def test_top_level_text_is_capped() -> None:
    rendered = render(message(Section.of("x"), summary="s" * 9000))
    assert len(rendered.messages[0].text) <= MAX_TEXT and rendered.messages[0].text.endswith("…")


def test_update_is_one_message_marked_when_cut() -> None:
    one = render_one(message(*[Section.of(f"line {i}") for i in range(80)]))
    assert len(one.blocks) == MAX_BLOCKS
    assert one.blocks[-1]["elements"][0]["text"] == "…"


def test_view_blocks_capped_at_100() -> None:
    blocks = render_view_blocks(message(*[Section.of(f"row {i}") for i in range(150)]))
    assert len(blocks) == 100 and "more not shown" in blocks[-1]["elements"][0]["text"]


def test_images_become_uploads_not_blocks() -> None:
    rendered = render(message(Section.of("chart"), Image(b"\x89PNG", "points per week <!here>", "c.png")))
    assert len(rendered.messages[0].blocks) == 1
    assert rendered.files[0].filename == "c.png" and "<!here>" not in rendered.files[0].alt


def test_private_answer_modal_respects_slack_input_cap() -> None:
    view = private_answer_modal('{"post": "1"}')
    assert not _limit_problems(view["blocks"], 100)
    assert view["blocks"][1]["element"]["max_length"] == 3000


# -- payload parsing ---------------------------------------------------------------------------------


def test_slack_encoding_to_plain_text() -> None:
    assert plain_from_slack("hi <@U1|alice> in <#C1|general> &lt;tag&gt; &amp; <https://x.io|docs> <!here>") == (
        "hi @alice in #general <tag> & docs @here"
    )


def test_thread_reply_is_an_answer() -> None:
    inbound = read_message(event_callback(thread_reply("my answer", "20.1", "10.1")), "UBOT")
    assert inbound is not None and inbound.kind is Kind.ANSWER
    event = to_event(inbound, "Alice")
    assert isinstance(event, AnswerPosted)
    assert event.source_id == source_id("T1", "C1", "20.1") == "slack:T1:C1:20.1"
    assert (event.message.message_id, event.message.thread_id) == ("20.1", "10.1")
    assert event.person.display_name == "Alice"


@pytest.mark.parametrize(
    "event",
    [
        {**thread_reply("top level", "10.1", "10.1")},  # thread parent itself
        {k: v for k, v in thread_reply("no thread", "11.1", "x").items() if k != "thread_ts"},
        {**thread_reply("bot", "12.1", "10.1"), "bot_id": "B2"},
        {**thread_reply("bot msg", "13.1", "10.1"), "subtype": "bot_message"},
        {**thread_reply("me", "14.1", "10.1", user="UBOT")},
        {**thread_reply("joined", "15.1", "10.1"), "subtype": "channel_join"},
    ],
)
def test_not_answers_are_ignored(event: dict) -> None:  # type: ignore[type-arg]
    assert read_message(event_callback(event), "UBOT") is None


def test_broadcast_counts_as_answer() -> None:
    inbound = read_message(event_callback(thread_reply("also to channel", "20.2", "10.1", subtype="thread_broadcast")), "UBOT")
    assert inbound is not None and inbound.kind is Kind.ANSWER


def test_edit_and_delete() -> None:
    edit = read_message(event_callback(edited("better", "20.1", "10.1")), "UBOT")
    assert edit is not None and isinstance(to_event(edit), AnswerEdited)
    assert to_event(edit).source_id == "slack:T1:C1:20.1"  # type: ignore[union-attr]
    gone = read_message(event_callback(deleted("20.1", "10.1")), "UBOT")
    assert gone is not None and isinstance(to_event(gone), AnswerDeleted)
    assert to_event(gone).source_id == "slack:T1:C1:20.1"  # type: ignore[union-attr]
    # A reply being added to the bot's question shows up as message_changed on the bot's message.
    parent = edited("q", "10.1", "10.1")
    parent["message"]["bot_id"] = "B1"
    assert read_message(event_callback(parent), "UBOT") is None


def test_dm_is_a_direct_message() -> None:
    event = {"type": "message", "channel": "D1", "user": "U1", "text": "hello", "ts": "30.1", "channel_type": "im"}
    inbound = read_message(event_callback(event), "UBOT")
    assert inbound is not None and inbound.kind is Kind.DIRECT
    dm = to_event(inbound)
    assert isinstance(dm, DirectMessage) and dm.place is not None and dm.place.is_dm


@pytest.mark.parametrize(
    "text, name, args",
    [("", "help", ()), ("leaderboard month", "leaderboard", ("month",)), ("Schedule set 10:00", "schedule", ("set", "10:00"))],
)
def test_command_parsing(text: str, name: str, args: tuple[str, ...]) -> None:
    command = read_command({"team_id": "T1", "channel_id": "C1", "user_id": "U1", "text": text})
    assert (command.name, command.args) == (name, args)


def test_admin_list_keeps_slack_entries() -> None:
    admins = AdminList.parse(["U1", "slack:U2", "slack:S9", "discord:123", " S7 "])
    assert admins.users == {"U1", "U2"} and admins.groups == {"S9", "S7"}


def test_submission_reads_metadata_and_text() -> None:
    view = private_answer_modal(json.dumps({"post": "7", "channel": "C1", "team": "T1", "action": "answer_privately"}))
    body = {
        "user": {"id": "U1"},
        "view": {
            "id": "V1",
            "private_metadata": view["private_metadata"],
            "state": {"values": {"answer": {"answer": {"value": "hi"}}}},
        },
    }
    sub = read_submission(body)
    assert sub is not None and (sub.post, sub.channel, sub.text, sub.user) == ("7", "C1", "hi", "U1")


async def test_people_cache_names_admins_and_failures() -> None:
    from adapters.slack.people import People
    from adapters.slack.tokens import SingleToken

    class Client:
        def __init__(self) -> None:
            self.calls: list[str] = []

        async def users_info(self, user: str, token: str) -> dict:  # type: ignore[type-arg]
            self.calls.append(user)
            if user == "UGONE":
                from slack_sdk.errors import SlackApiError

                raise SlackApiError("user_not_found", {"ok": False, "error": "user_not_found"})
            return {"user": {"id": user, "is_owner": user == "UOWN", "profile": {"display_name": f"name-{user}"}}}

        async def usergroups_users_list(self, usergroup: str, token: str) -> dict:  # type: ignore[type-arg]
            self.calls.append(usergroup)
            return {"users": ["UGRP"]}

    now = [0.0]
    client = Client()
    people = People(client, SingleToken("xoxb-x"), AdminList.parse(["slack:ULISTED", "slack:S1"]), now=lambda: now[0])  # type: ignore[arg-type]
    assert await people.name("T1", "U1") == "name-U1"
    assert await people.name("T1", "U1") == "name-U1" and client.calls == ["U1"]  # cached
    assert await people.name("T1", "UGONE") == "" and await people.name("T1", "UGONE") == ""
    assert client.calls.count("UGONE") == 1  # a failed lookup is remembered briefly
    assert await people.is_admin("T1", "ULISTED") and await people.is_admin("T1", "UOWN") and await people.is_admin("T1", "UGRP")
    assert not await people.is_admin("T1", "U1")
    now[0] += 601
    await people.name("T1", "U1")
    assert client.calls.count("U1") == 2  # expired after ten minutes


async def test_people_survive_a_dropped_connection(caplog: pytest.LogCaptureFixture) -> None:
    import aiohttp

    from adapters.slack.people import People
    from adapters.slack.tokens import SingleToken

    class Client:
        async def users_info(self, user: str, token: str) -> dict:  # type: ignore[type-arg]
            raise aiohttp.ServerDisconnectedError()

        async def usergroups_users_list(self, usergroup: str, token: str) -> dict:  # type: ignore[type-arg]
            raise aiohttp.ClientConnectionError("reset")

    people = People(Client(), SingleToken("xoxb-x"), AdminList.parse(["slack:S1"]))  # type: ignore[arg-type]
    assert await people.name("T1", "U1") == ""  # unnamed, not a failed acknowledgement
    assert not await people.is_admin("T1", "U1")
    assert "users.info for U1 failed: ServerDisconnectedError" in caplog.text
    assert "usergroups.users.list for S1 failed: ClientConnectionError" in caplog.text
