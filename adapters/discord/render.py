"""Render neutral messages as Discord messages: embeds (or plain content) within Discord's limits.

Every span is escaped (markdown and mentions) and styled here, so user text can never ping or
inject markup; senders also pass `AllowedMentions.none()`. Control characters and bidi overrides
are removed from everything shown (`adapters.plain_text.clean`). A message too large for one
Discord message is split into several; text that must be cut (titles, field names, footers) ends
in "…".
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

import discord
from discord.utils import escape_markdown, escape_mentions

from adapters.plain_text import ELLIPSIS, clean
from adapters.plain_text import clip as fit  # shared with the Slack renderer
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
)

# Discord's documented limits (characters unless noted).
CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELDS_PER_EMBED = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
EMBED_TOTAL_LIMIT = 6000  # across all embeds of one message
EMBEDS_PER_MESSAGE = 10
FILES_PER_MESSAGE = 10
BUTTON_LABEL_LIMIT = 80
BUTTONS_PER_MESSAGE = 25
CUSTOM_ID_LIMIT = 100

COLOUR = discord.Colour(0x2B7A78)
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True, slots=True)
class FileSpec:
    """A file to attach; turned into a fresh `discord.File` for each send (files are single-use)."""

    data: bytes
    filename: str
    description: str = ""

    def to_file(self) -> discord.File:
        return discord.File(io.BytesIO(self.data), filename=self.filename, description=self.description or None)


@dataclass(slots=True)
class Outgoing:
    """One Discord message: content or embeds, files, and the buttons to put under it."""

    content: str | None = None
    embeds: list[discord.Embed] = field(default_factory=list)
    files: list[FileSpec] = field(default_factory=list)
    buttons: tuple[Button, ...] = ()

    def embed_chars(self) -> int:
        return sum(len(e) for e in self.embeds)


# -- escaping and spans ---------------------------------------------------------------------


_CHANNEL_MENTION = re.compile(r"<#(\d)")


def no_mentions(text: str) -> str:
    """No control characters, no @everyone/@here/role/user mentions (discord.py) and no <#id>
    channel links (which escape_mentions leaves alone; a zero-width space stops them resolving).
    Controls go first, so removing one cannot join the pieces of a mention back together."""
    return _CHANNEL_MENTION.sub("<#\u200b\\1", escape_mentions(clean(text)))


def escape(text: str) -> str:
    """User-safe text: no markdown and no mentions."""
    return escape_markdown(no_mentions(text))


def _wrap(text: str, marker: str) -> str:
    # Markdown needs the markers against non-space characters: "**Covered:** " not "**Covered: **".
    core = text.strip()
    if not core:
        return text
    start = text.index(core[0])
    return f"{text[:start]}{marker}{core}{marker}{text[start + len(core) :]}"


def inline_code(text: str) -> str:
    # A backtick would close the code span early; a look-alike keeps the text readable.
    body = no_mentions(text.replace("`", "ˋ"))
    return f"`{body}`" if body.strip() else body


def render_span(span: Span) -> str:
    match span.style:
        case Style.CODE:
            return inline_code(span.text)
        case Style.BOLD:
            return _wrap(escape(span.text), "**")
        case Style.ITALIC:
            return _wrap(escape(span.text), "*")
        case Style.QUOTE:
            return "\n".join("> " + line for line in escape(span.text).split("\n"))
        case _:
            return escape(span.text)


def code_block(text: str) -> str:
    # Three backticks inside would end the block; a zero-width space breaks the run. Controls go
    # first: removing one must not join backticks into a new run.
    body = escape_mentions(clean(text).replace("```", "`\u200b``"))
    return f"```\n{body}\n```"


def _split_raw(span: Span, limit: int) -> list[str]:
    """Cut a span's raw text into parts whose rendered form fits `limit`, preferring line/word breaks."""
    text, parts, start = span.text, [], 0
    while start < len(text):
        end = min(len(text), start + limit)
        while end > start + 1:
            rendered = len(render_span(Span(text[start:end], span.style)))
            if rendered <= limit:
                break
            end = start + max(1, (end - start) * limit // rendered - 1)
        if end < len(text):
            window = text[start:end]
            cut = max(window.rfind("\n"), window.rfind(" "))
            if cut > len(window) // 2:
                end = start + cut + 1
        parts.append(text[start:end])
        start = end
    return parts


def span_pieces(spans: tuple[Span, ...], limit: int) -> list[str]:
    """Rendered spans, each at most `limit` long; long spans are split and each part styled on its own.
    A quote gets lines of its own: "> " only quotes at the start of a line."""
    pieces: list[str] = []
    for index, span in enumerate(spans):
        rendered = render_span(span)
        parts = [rendered] if len(rendered) <= limit else [render_span(Span(p, span.style)) for p in _split_raw(span, limit)]
        if span.style is Style.QUOTE:
            if pieces and not pieces[-1].endswith("\n"):
                pieces.append("\n")
            if index + 1 < len(spans):
                parts.append("\n")
        pieces.extend(parts)
    return pieces


def pack(blocks: list[list[str]], limit: int, separator: str = "\n") -> list[str]:
    """Join blocks (lists of pieces <= limit) into chunks <= limit; blocks are separated by `separator`."""
    chunks: list[str] = []
    current = ""
    for pieces in blocks:
        joiner = separator if current else ""
        for piece in pieces:
            if current and len(current) + len(joiner) + len(piece) > limit:
                chunks.append(current)
                current, joiner = "", ""
            current += joiner + piece
            joiner = ""
    if current:
        chunks.append(current)
    return chunks


def _text_pieces(block: Section | CodeBlock, limit: int) -> list[str]:
    if isinstance(block, Section):
        return span_pieces(block.spans, limit)
    rendered = code_block(block.text)
    if len(rendered) <= limit:
        return [rendered]
    return [code_block(part) for part in _split_raw(Span(block.text, Style.PLAIN), limit - 8)]


def _safe_filename(name: str) -> str:
    cleaned = _UNSAFE_FILENAME.sub("_", name).strip("._") or "file"
    return cleaned[-100:]


# -- embeds -----------------------------------------------------------------------------------


class _EmbedBuilder:
    """Fills embeds block by block, starting a new one whenever a per-embed limit would be passed."""

    def __init__(self) -> None:
        self.embeds: list[discord.Embed] = []
        self.files: dict[int, list[FileSpec]] = {}
        self._current: discord.Embed | None = None

    @property
    def current(self) -> discord.Embed:
        if self._current is None:
            self._current = discord.Embed(colour=COLOUR)
            self.embeds.append(self._current)
        return self._current

    def new(self) -> discord.Embed:
        self._current = None
        return self.current

    def _room(self) -> int:
        return EMBED_TOTAL_LIMIT - len(self.current)

    def header(self, text: str) -> None:
        embed = self.current
        if embed.title or embed.description or embed.fields or embed.footer.text or embed.image.url:
            embed = self.new()
        embed.title = fit(escape(text), TITLE_LIMIT)

    def text(self, pieces: list[str]) -> None:
        """Append one block's pieces to the description, continuing in new embeds as needed."""
        for index, piece in enumerate(pieces):
            embed = self.current
            separator = "\n" if index == 0 and embed.description else ""
            too_long = len(embed.description or "") + len(separator) + len(piece) > DESCRIPTION_LIMIT
            # Text after fields would render above them (Discord shows description first): new embed.
            if embed.fields or too_long or len(separator) + len(piece) > self._room():
                embed, separator = self.new(), ""
            embed.description = (embed.description or "") + separator + piece

    def fields(self, pairs: tuple[tuple[str, str], ...]) -> None:
        for key, value in pairs:
            name = fit(escape(key), FIELD_NAME_LIMIT) or "\u200b"
            shown = fit(escape(value), FIELD_VALUE_LIMIT) or "\u200b"
            if len(self.current.fields) >= FIELDS_PER_EMBED or len(name) + len(shown) > self._room():
                self.new()
            self.current.add_field(name=name, value=shown, inline=True)

    def footer(self, text: str) -> None:
        # Footers are not markdown, so only mentions are escaped (backslashes would show).
        embed = self.current
        previous = embed.footer.text or ""
        combined = f"{previous} · {text}" if previous else text
        allowed = min(FOOTER_LIMIT, self._room() + len(previous))
        embed.set_footer(text=fit(no_mentions(combined), max(allowed, 1)))

    def image(self, image: Image) -> None:
        embed = self.current
        if embed.image.url:
            embed = self.new()
        spec = FileSpec(image.png, _safe_filename(image.filename), fit(clean(image.alt), 1024))
        embed.set_image(url=f"attachment://{spec.filename}")
        self.files.setdefault(len(self.embeds) - 1, []).append(spec)


def _is_plain(message: Message) -> bool:
    return all(isinstance(b, Section | CodeBlock | Buttons | Attachment) for b in message.blocks)


def _pack_embeds(builder: _EmbedBuilder) -> list[Outgoing]:
    outs: list[Outgoing] = []
    for index, embed in enumerate(builder.embeds):
        size = len(embed)
        if size == 0 and not embed.image.url:
            continue
        files = builder.files.get(index, [])
        last = outs[-1] if outs else None
        if (
            last is None
            or len(last.embeds) >= EMBEDS_PER_MESSAGE
            or last.embed_chars() + size > EMBED_TOTAL_LIMIT
            or len(last.files) + len(files) > FILES_PER_MESSAGE
        ):
            last = Outgoing()
            outs.append(last)
        last.embeds.append(embed)
        last.files.extend(files)
    return outs


def render(message: Message) -> list[Outgoing]:
    """One or more Discord messages for a neutral message; buttons go under the first one."""
    buttons: list[Button] = []
    attachments: list[FileSpec] = []
    if _is_plain(message):
        blocks = [_text_pieces(b, CONTENT_LIMIT) for b in message.blocks if isinstance(b, Section | CodeBlock)]
        outs = [Outgoing(content=chunk) for chunk in pack(blocks, CONTENT_LIMIT)]
    else:
        builder = _EmbedBuilder()
        for block in message.blocks:
            match block:
                case Header(text=text):
                    builder.header(text)
                case Section() | CodeBlock():
                    builder.text(_text_pieces(block, DESCRIPTION_LIMIT))
                case Fields(pairs=pairs):
                    builder.fields(pairs)
                case Context(text=text):
                    builder.footer(text)
                case Image():
                    builder.image(block)
                case Buttons() | Attachment():
                    pass
        outs = _pack_embeds(builder)
    for block in message.blocks:
        if isinstance(block, Buttons):
            buttons.extend(block.buttons)
        elif isinstance(block, Attachment):
            attachments.append(FileSpec(block.data, _safe_filename(block.filename)))
    if not outs:
        outs = [Outgoing(content=fit(escape(message.summary), CONTENT_LIMIT) if message.summary else ELLIPSIS)]
    for spec in attachments:
        if len(outs[-1].files) >= FILES_PER_MESSAGE:
            outs.append(Outgoing())
        outs[-1].files.append(spec)
    outs[0].buttons = tuple(buttons[:BUTTONS_PER_MESSAGE])
    return outs


def render_single(message: Message) -> Outgoing:
    """The first Discord message only (edits cannot split); a visible "…" marks anything left out."""
    outs = render(message)
    first = outs[0]
    if len(outs) > 1:
        if first.embeds:
            embed = first.embeds[-1]
            note = f"{embed.footer.text} · {ELLIPSIS}" if embed.footer.text else ELLIPSIS
            embed.set_footer(text=fit(note, FOOTER_LIMIT))
        elif first.content is not None:
            first.content = first.content[: CONTENT_LIMIT - 1] + ELLIPSIS
    return first


def custom_id(button: Button) -> str:
    return f"repbot:{button.action}:{button.value}"[:CUSTOM_ID_LIMIT]


def parse_custom_id(value: str) -> tuple[str, str] | None:
    """`repbot:<action>:<value>` -> (action, value); None for components that are not ours."""
    prefix, _, rest = value.partition(":")
    if prefix != "repbot" or not rest:
        return None
    action, _, payload = rest.partition(":")
    return action, payload


def button_view(buttons: tuple[Button, ...]) -> discord.ui.View | None:
    """A view that only carries components: clicks are handled by custom_id in on_interaction, so
    they keep working after a restart. It is stopped so discord.py does not keep it in memory."""
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for button in buttons:
        style = discord.ButtonStyle.primary if button.action == "answer_privately" else discord.ButtonStyle.secondary
        view.add_item(
            discord.ui.Button(label=fit(clean(button.label), BUTTON_LABEL_LIMIT), custom_id=custom_id(button), style=style)
        )
    view.stop()
    return view
