"""Hostile input, generated: 10,000+ payloads and texts through the adapters' event parsing and
every renderer. Nothing may raise, no mass mention or markup may survive into what the bot
sends, and every rendered message stays inside its platform's limits."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.discord import events as discord_events
from adapters.discord.render import render as discord_render
from adapters.plain_text import render as plain_render
from adapters.slack import events as slack_events
from adapters.slack.render import render as slack_render
from bot.messages import Context, Fields, Header, Message, Section, Span, Style


def budget(examples: int) -> settings:
    """Examples per property; together they make the 10,000 generated inputs the issue asks for."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


NASTY = [
    "@everyone",
    "@here",
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!subteam^S123|@oncall>",
    "<@U12345>",
    "<@!1234567890>",
    "<@&987654321098765432>",
    "<@123456789012345678>",
    "<#123456789012345678>",
    "<#C12345>",
    "<https://evil.example|click me>",
    "*bold*",
    "_it_",
    "~strike~",
    "`code`",
    "```block```",
    "> quote",
    "[link](https://evil.example)",
    "||spoiler||",
    "\u202eRTL override",
    "\u200b",
    "\x00\x07\x1b[2J",
    "&lt;!channel&gt;",
    "👩‍💻🚀",
    "مرحبا",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "\n\n\n",
    '{"type": "section"}',
    "@\u200beveryone",
]
texts = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(NASTY) | st.text(max_size=8), max_size=8).map("".join),
    st.builds(lambda s, n: s * n, st.sampled_from(NASTY + ["x"]), st.integers(1, 600)),  # long
)
spans = st.builds(Span, texts, st.sampled_from(list(Style)))
blocks = st.one_of(
    st.builds(lambda ss: Section(tuple(ss)), st.lists(spans, min_size=1, max_size=4)),
    st.builds(Header, texts),
    st.builds(Context, texts),
    st.builds(lambda pairs: Fields(tuple(pairs)), st.lists(st.tuples(texts, texts), max_size=12)),
)
messages = st.builds(lambda bs, summary: Message(tuple(bs), summary=summary), st.lists(blocks, min_size=1, max_size=8), texts)
# Large messages: up to 60 blocks and 30k characters, past every platform limit, to exercise splitting.
huge = st.integers(1, 60).flatmap(
    lambda n: st.builds(
        lambda size, s: Message(tuple(Section((Span(s * max(1, size // max(1, len(s)))),)) for _ in range(n))),
        st.integers(1, 30_000 // n),
        st.sampled_from(NASTY),
    )
)

SLACK_MENTION = re.compile(r"<[!@#]|<https?:")
# Discord only turns 17-20 digit snowflakes into mentions.
DISCORD_PING = re.compile(r"(?<![\u200b\\])@(everyone|here)|<@[!&]?\d{17,20}>|<#\d{17,20}>")


def _slack_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _slack_strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _slack_strings(v)]
    return []


@budget(2400)
@given(messages | huge)
def test_slack_renderer_never_leaks_mentions_and_keeps_limits(message: Message) -> None:
    rendered = slack_render(message)
    for part in rendered.messages:
        assert len(part.blocks) <= 50 and len(part.text) <= 4000
        for block in part.blocks:
            if block["type"] == "section" and "text" in block:
                assert len(block["text"]["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
        for text in _slack_strings([part.text, list(part.blocks)]):
            assert not SLACK_MENTION.search(text), text[:200]
    json.dumps([list(p.blocks) for p in rendered.messages])  # serialisable as sent


@budget(2400)
@given(messages | huge)
def test_discord_renderer_never_pings_and_keeps_limits(message: Message) -> None:
    for out in discord_render(message):
        if out.content is not None:
            assert len(out.content) <= 2000 and not DISCORD_PING.search(out.content), out.content[:200]
        assert len(out.embeds) <= 10 and out.embed_chars() <= 6000
        for embed in out.embeds:
            data = embed.to_dict()
            assert len(data.get("description", "")) <= 4096 and len(data.get("fields", [])) <= 25
            for text in _slack_strings(data):
                assert not DISCORD_PING.search(text), text[:200]


@budget(1200)
@given(messages)
def test_console_renderer_strips_control_characters(message: Message) -> None:
    out = plain_render(message)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e]", out)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30) | st.sampled_from(NASTY),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "event",
                    "type",
                    "subtype",
                    "channel",
                    "user",
                    "ts",
                    "thread_ts",
                    "text",
                    "team",
                    "team_id",
                    "message",
                    "previous_message",
                    "deleted_ts",
                    "bot_id",
                    "channel_type",
                    "actions",
                    "view",
                    "private_metadata",
                    "state",
                    "values",
                    "value",
                    "action_id",
                    "trigger_id",
                    "command",
                    "user_id",
                    "user_name",
                    "channel_id",
                    "response_url",
                    "container",
                    "message_ts",
                    "callback_id",
                    "authorizations",
                ]
            )
            | st.text(max_size=8),
            inner,
            max_size=8,
        )
    ),
    max_leaves=6,
)
payloads = st.dictionaries(
    st.sampled_from(
        [
            "event",
            "team_id",
            "team",
            "authorizations",
            "user",
            "view",
            "actions",
            "channel",
            "command",
            "text",
            "user_id",
            "channel_id",
            "container",
            "trigger_id",
        ]
    ),
    json_values,
    max_size=8,
)


@budget(3000)
@given(payloads)
def test_slack_parsers_never_raise_on_garbage(body: dict) -> None:
    for parse in (
        lambda b: slack_events.read_message(b, "UBOT"),
        slack_events.read_command,
        slack_events.read_action,
        slack_events.read_submission,
    ):
        result = parse(body)  # garbage must be ignored (None), never crash the listener
        if isinstance(result, slack_events.Inbound):
            slack_events.to_event(result)


@budget(1000)
@given(st.lists(json_values, max_size=5), texts)
def test_discord_pure_parsers_never_raise(components: list, text: str) -> None:
    discord_events.modal_value([c for c in components if isinstance(c, dict)])
    discord_events.command_args(text)
