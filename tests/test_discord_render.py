"""The Discord renderer: limits, splitting, escaping; and the pure event-parsing helpers."""

from __future__ import annotations

import datetime as dt

import discord
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.discord import events as ev
from adapters.discord.chat import message_channel_id
from adapters.discord.endpoints import Endpoints
from adapters.discord.render import (
    BUTTONS_PER_MESSAGE,
    CONTENT_LIMIT,
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    EMBEDS_PER_MESSAGE,
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    FIELDS_PER_EMBED,
    FILES_PER_MESSAGE,
    FOOTER_LIMIT,
    TITLE_LIMIT,
    Outgoing,
    button_view,
    parse_custom_id,
    render,
    render_single,
)
from bot.events import MessageRef, Place
from bot.messages import (
    Attachment,
    Button,
    Buttons,
    CodeBlock,
    Context,
    Fields,
    Header,
    Image,
    Message,
    Section,
    Span,
    Style,
    bold,
    code,
    message,
    quote,
    text_message,
)
from bot.views import question_message

PINGS = ("@everyone", "@here")


def within_limits(outs: list[Outgoing]) -> None:
    for out in outs:
        assert out.content is None or len(out.content) <= CONTENT_LIMIT
        assert len(out.embeds) <= EMBEDS_PER_MESSAGE
        assert sum(len(e) for e in out.embeds) <= EMBED_TOTAL_LIMIT
        assert len(out.files) <= FILES_PER_MESSAGE and len(out.buttons) <= BUTTONS_PER_MESSAGE
        assert out.content or out.embeds or out.files
        for embed in out.embeds:
            assert len(embed.title or "") <= TITLE_LIMIT
            assert len(embed.description or "") <= DESCRIPTION_LIMIT
            assert len(embed.fields) <= FIELDS_PER_EMBED
            assert all(len(f.name or "") <= FIELD_NAME_LIMIT and len(f.value or "") <= FIELD_VALUE_LIMIT for f in embed.fields)
            assert all(f.name and f.value for f in embed.fields)  # Discord rejects empty field names/values
            assert len(embed.footer.text or "") <= FOOTER_LIMIT


def visible(outs: list[Outgoing]) -> str:
    parts: list[str] = []
    for out in outs:
        parts.append(out.content or "")
        for embed in out.embeds:
            parts += [embed.title or "", embed.description or "", embed.footer.text or ""]
            parts += [f"{f.name} {f.value}" for f in embed.fields]
    return "\n".join(parts)


tokens = st.sampled_from([*"ab *_`~|>#-@\n", "@everyone", "@here", "<@&123456789012345678>", "```", "é", "\u200b"])
texts = st.lists(tokens, max_size=40).map("".join)
long_texts = st.integers(min_value=0, max_value=9000).map(lambda n: ("word @everyone " * (n // 15 + 1))[:n])
blocks = st.one_of(
    texts.map(Header),
    st.lists(st.builds(Span, st.one_of(texts, long_texts), st.sampled_from(list(Style))), max_size=4).map(
        lambda s: Section(tuple(s))
    ),
    st.lists(st.tuples(texts, st.one_of(texts, long_texts)), max_size=40).map(lambda p: Fields(tuple(p))),
    st.one_of(texts, long_texts).map(CodeBlock),
    st.one_of(texts, long_texts).map(Context),
    st.lists(st.builds(Button, st.just("hint"), texts, st.just("7")), max_size=30).map(lambda b: Buttons(tuple(b))),
    st.builds(Image, st.just(b"\x89PNG"), texts, st.sampled_from(["chart.png", "a b/c.png"])),
    st.builds(Attachment, st.just(b"a,b\n"), st.just("export.csv")),
)


@settings(max_examples=150, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(blocks, max_size=14))
def test_any_message_renders_within_discord_limits_and_never_pings(parts: list) -> None:
    outs = render(Message(tuple(parts), summary="summary"))
    within_limits(outs)
    text = visible(outs)
    for ping in PINGS:
        assert ping not in text
    assert "<@&123456789012345678>" not in text


def test_long_plain_text_is_split_into_messages_without_losing_text():
    words = " ".join(f"w{i}" for i in range(2500))  # ~14k characters
    outs = render(text_message(words))
    assert len(outs) > 5
    within_limits(outs)
    assert "".join(o.content or "" for o in outs) == words


def test_long_quote_is_split_into_embeds_each_quoted():
    outs = render(message(Header("Your answer"), Section.of(quote("x" * 9000))))
    within_limits(outs)
    descriptions = [e.description for o in outs for e in o.embeds]
    assert len(descriptions) >= 3 and all(d.startswith("> ") for d in descriptions)
    assert sum(d.count("x") for d in descriptions) == 9000
    assert outs[0].embeds[0].title == "Your answer"


def test_spans_are_escaped_then_styled():
    outs = render(
        message(
            Header("**Title** @here"),
            Section.of(
                bold("Covered: "), "a_b *c* @everyone <@&123456789012345678>", code(" x`y "), "\n", quote("> not\na quote")
            ),
            Context("5/10 · @everyone"),
        )
    )
    embed = outs[0].embeds[0]
    assert embed.title == "\\*\\*Title\\*\\* @\u200bhere"
    assert embed.description == (
        "**Covered:** a\\_b \\*c\\* @\u200beveryone <@\u200b&123456789012345678>` xˋy `\n> \\> not\n> a quote"
    )
    assert embed.footer.text == "5/10 · @\u200beveryone"  # footers are not markdown: no backslashes


def test_a_quote_inside_a_section_gets_its_own_lines():
    (out,) = render(message(Section.of("You wrote: ", quote("a\nb"), "and more")))
    assert out.content == "You wrote: \n> a\n> b\nand more"


def test_plain_replies_are_content_and_code_blocks_cannot_be_closed_early():
    (out,) = render(message(Section.of("ok"), CodeBlock("```\n@everyone")))
    assert out.embeds == [] and out.content == "ok\n```\n`\u200b``\n@\u200beveryone\n```"


def test_control_and_bidi_characters_never_reach_discord():
    evil = "a\u202eb\x1b[2Jc\x00\u2066d"
    embedded = render(
        message(
            Header(f"Title {evil}"),
            Section.of(evil, bold(evil), code(evil), quote(evil)),
            CodeBlock(f"``\x1b`{evil}"),
            Fields(((f"name {evil}", f"value {evil}"),)),
            Context(f"footer {evil}"),
            Image(b"png", f"alt {evil}", "chart.png"),
            Buttons((Button("hint", f"label {evil}", "7"),)),
        ),
    )
    plain = render(message(Section.of(evil, code(evil)), CodeBlock(evil)))
    shown = visible(embedded) + visible(plain)
    shown += "".join(f.description for o in embedded for f in o.files)
    view = button_view(embedded[0].buttons)
    assert view is not None
    shown += "".join(c.label or "" for c in view.children)  # type: ignore[attr-defined]
    for bad in ("\u202e", "\x1b", "\x00", "\u2066"):
        assert bad not in shown
    embed = embedded[0].embeds[0]
    assert embed.title == "Title ab[2Jcd" and embed.fields[0].name == "name ab[2Jcd"
    assert "```\n`\u200b``ab[2Jcd\n```" in embed.description  # a removed control cannot close the block


def test_truncation_is_visible():
    outs = render(message(Header("t" * 300), Fields((("n" * 300, "v" * 2000),)), Context("f" * 3000)))
    embed = outs[0].embeds[0]
    assert len(embed.title) == TITLE_LIMIT and embed.title.endswith("…")
    assert embed.fields[0].name.endswith("…") and embed.fields[0].value.endswith("…")
    assert embed.footer.text.endswith("…")


def test_many_fields_split_across_embeds_in_order():
    pairs = tuple((f"k{i}", f"v{i}") for i in range(60))
    outs = render(message(Header("Stats"), Fields(pairs), Section.of("after the fields")))
    within_limits(outs)
    embeds = [e for o in outs for e in o.embeds]
    assert [len(e.fields) for e in embeds] == [25, 25, 10, 0]
    assert [f.name for e in embeds for f in e.fields] == [k for k, _ in pairs]
    assert embeds[-1].description == "after the fields"  # text after fields stays after them


async def test_question_post_is_one_embed_with_buttons(test_bank):
    question = test_bank.get("test-canary")
    closes = dt.datetime(2026, 3, 2, 16, tzinfo=dt.UTC)
    (out,) = render(question_message(question, 7, closes, "Europe/Berlin"))
    assert out.embeds[0].title == f"Daily question: {question.title}"
    assert [b.action for b in out.buttons] == ["answer_privately", "hint", "skip"]
    view = button_view(out.buttons)
    assert view is not None and view.is_finished()  # not kept in discord.py's view store
    assert [c.custom_id for c in view.children] == ["repbot:answer_privately:7", "repbot:hint:7", "repbot:skip:7"]


def test_images_and_files_are_attached():
    outs = render(message(Header("Chart"), Image(b"png", "points per week", "my chart.png"), Attachment(b"a,b", "export.csv")))
    (out,) = outs
    assert out.embeds[0].image.url == "attachment://my_chart.png"
    assert [(f.filename, f.description) for f in out.files] == [("my_chart.png", "points per week"), ("export.csv", "")]
    assert out.files[0].to_file().filename == "my_chart.png"


def test_single_message_render_marks_what_was_left_out():
    assert render_single(text_message("x " * 3000)).content.endswith("…")
    out = render_single(message(Header("H"), Section.of("y" * 9000)))
    assert out.embeds[-1].footer.text.endswith("…")


def test_empty_message_still_has_a_body():
    (out,) = render(Message((), summary="@everyone hello"))
    assert out.content == "@\u200beveryone hello"


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [("repbot:hint:7", ("hint", "7")), ("repbot:answer:12", ("answer", "12")), ("other:hint:7", None), ("repbot", None)],
)
def test_custom_ids(raw, parsed):
    assert parse_custom_id(raw) == parsed


# -- event helpers -------------------------------------------------------------------------------


def test_modal_value_in_action_rows_and_labels():
    rows = [{"type": 1, "components": [{"type": 4, "custom_id": "answer", "value": "rows"}]}]
    labels = [{"type": 18, "id": 1, "component": {"type": 4, "custom_id": "answer", "value": "label"}}]
    assert ev.modal_value(rows) == "rows" and ev.modal_value(labels) == "label"
    assert ev.modal_value([{"type": 1, "components": [{"custom_id": "other", "value": "x"}]}]) is None


class _Role:
    def __init__(self, role_id: int):
        self.id = role_id


class _Member:
    id = 42
    roles = [_Role(7)]


@pytest.mark.parametrize(
    ("permissions", "admins", "expected"),
    [
        (discord.Permissions(manage_guild=True), [], True),
        (discord.Permissions(administrator=True), [], True),
        (discord.Permissions.none(), [], False),
        (discord.Permissions.none(), ["discord:42"], True),
        (discord.Permissions.none(), ["42"], True),
        (discord.Permissions.none(), ["slack:42", "discord:43"], False),
        (discord.Permissions.none(), ["discord:role:7"], True),
        (discord.Permissions.none(), ["discord:role:8"], False),
    ],
)
def test_admins(permissions, admins, expected):
    assert ev.is_admin(_Member(), permissions, admins) is expected  # type: ignore[arg-type]


def test_command_args_and_source_ids():
    assert ev.command_args("  10:00  mon-fri ") == ("10:00", "mon-fri") and ev.command_args(None) == ()
    assert ev.message_source_id(1, 2, 3) == "discord:1:2:3" and ev.message_source_id(None, 2, 3) == "discord:@me:2:3"


def test_replies_and_reactions_go_to_the_channel_the_message_lives_in():
    place = Place("discord", "1", "100")
    assert message_channel_id(MessageRef(place, "200", "200")) == 100  # the post: in the parent channel
    assert message_channel_id(MessageRef(place, "300", "200")) == 200  # an answer: in the thread
    assert message_channel_id(MessageRef(place, "300", None)) == 100


def test_endpoint_rewrites_are_limited_to_discord_urls():
    endpoints = Endpoints("http://127.0.0.1:9/api/v10", "ws://127.0.0.1:9/gateway")
    assert endpoints.rest_url("https://discord.com/api/v10/users/@me") == "http://127.0.0.1:9/api/v10/users/@me"
    assert endpoints.rest_url("https://cdn.example/x") == "https://cdn.example/x"
    assert endpoints.gateway("wss://gateway.discord.gg/?v=10&encoding=json") == "ws://127.0.0.1:9/gateway?v=10&encoding=json"
    assert endpoints.gateway("wss://gateway-us-east1-b.discord.gg/?v=10") == "ws://127.0.0.1:9/gateway?v=10"
    assert endpoints.gateway("ws://127.0.0.1:5/resume?v=10") == "ws://127.0.0.1:5/resume?v=10"
    assert not Endpoints().active and Endpoints().gateway("wss://gateway.discord.gg/") == "wss://gateway.discord.gg/"
