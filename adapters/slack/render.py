"""Block Kit rendering of neutral messages: every span escaped, Slack's size limits owned here.

All text is treated as untrusted. In mrkdwn, `&`, `<` and `>` become entities (so no `<!here>`,
`<@U…>`, `<#C…>` or `<!subteam^…>` control sequence can be formed), `@here`-style words get a
word joiner, and formatting markers become look-alike characters so user text cannot turn
itself bold, struck through or into code. plain_text objects are shown literally by Slack, but
`<`/`>` are still swapped for look-alikes there so no raw control sequence ever leaves the bot.
Too-long content is split into more blocks and more messages, or cut with a visible "…".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from adapters.plain_text import ELLIPSIS, clean, clip
from bot.messages import Attachment, Buttons, CodeBlock, Context, Fields, Header, Image, Message, Section, Span, Style

MAX_BLOCKS = 50  # per message
MAX_VIEW_BLOCKS = 100  # modals and App Home
MAX_SECTION = 3000  # section text
MAX_FIELDS = 10  # fields per section
MAX_FIELD = 2000  # one field's text
MAX_HEADER = 150
MAX_TEXT = 4000  # top-level `text` (we keep it well under Slack's 40k)
MAX_CONTEXT = 3000
MAX_BUTTON_LABEL = 75
MAX_BUTTON_VALUE = 2000
MAX_ACTIONS = 25  # elements in one actions block
# Slack rejects messages whose blocks carry too much text in total (`msg_blocks_too_long`, an
# undocumented limit around 13k characters); staying under 12k per message is safe.
MAX_MESSAGE_CHARS = 12_000
MAX_FIELDS_CHARS = MAX_MESSAGE_CHARS // 2  # one fields section never fills a message by itself

_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_MARKERS = str.maketrans({"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb"})
_BACKTICK = str.maketrans({"`": "\u02cb"})
_ANGLES = str.maketrans({"<": "\u2039", ">": "\u203a"})
_MASS = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
_QUOTE_START = re.compile(r"(^|\n)(\s*)>")


# -- escaping -------------------------------------------------------------------------------


def _defang(text: str) -> str:
    """Raw-text changes shared by every style: controls removed, mass-mention words broken."""
    return _MASS.sub("@\u2060\\1", clean(text))


def _entities(text: str) -> str:
    return "".join(_ENTITIES.get(c, c) for c in text)


def mrkdwn_escape(text: str, style: Style = Style.PLAIN) -> str:
    """One span as safe mrkdwn content (without the style's own markers)."""
    raw = _defang(text)
    if style is Style.CODE:
        raw = raw.translate(_BACKTICK)
    else:
        raw = raw.translate(_MARKERS)
        # A line starting with ">" would become a block quote; a zero-width space stops that.
        raw = _QUOTE_START.sub("\\1\\2\u200b>", raw)
    return _entities(raw)


def plain_text(text: str, limit: int) -> str:
    """Text for a plain_text object (headers, buttons, titles), cut to `limit`."""
    return clip(_defang(text).translate(_ANGLES), limit)


def clip_mrkdwn(text: str, limit: int, style: Style = Style.PLAIN) -> str:
    """Escape and cut so the escaped result fits `limit` (never cutting an entity in half)."""
    out = mrkdwn_escape(text, style)
    if len(out) <= limit:
        return out
    raw = text
    while len(out) > limit and raw:
        raw = raw[: max(0, len(raw) - max(1, len(out) - limit + 1))]
        out = mrkdwn_escape(raw, style).rstrip() + ELLIPSIS
    return out


def styled(span: Span) -> str:
    """A span as mrkdwn, styled only by the markers we add ourselves."""
    if span.style is Style.QUOTE:
        body = mrkdwn_escape(span.text)
        return "\n".join(">" + line for line in body.split("\n"))
    marker = {Style.BOLD: "*", Style.ITALIC: "_", Style.CODE: "`"}.get(span.style)
    body = mrkdwn_escape(span.text, span.style)
    if marker is None:
        return body
    # Slack only formats markers that hug non-blank text on one line; keep blanks outside.
    lines = []
    for line in body.split("\n"):
        core = line.strip()
        if not core:
            lines.append(line)
            continue
        lead = line[: len(line) - len(line.lstrip())]
        trail = line[len(line.rstrip()) :]
        lines.append(f"{lead}{marker}{core}{marker}{trail}")
    return "\n".join(lines)


def _split_text(text: str, limit: int) -> Iterator[str]:
    """Cut raw text into pieces of at most `limit` characters, preferring line and word breaks."""
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut < limit // 2:
            cut = text.rfind(" ", 0, limit)
        if cut < limit // 2:
            cut = limit
        yield text[:cut]
        text = text[cut:].lstrip("\n") if text[cut : cut + 1] == "\n" else text[cut:]
    if text:
        yield text


def _styled_pieces(span: Span, limit: int) -> Iterator[str]:
    """A span as one or more styled mrkdwn pieces, each at most `limit` characters."""
    whole = styled(span)
    if len(whole) <= limit:
        yield whole
        return
    # Escaping can grow text up to 5x (`&` -> `&amp;`); markers add a few characters per line.
    raw_limit = max(50, limit // 6)
    for part in _split_text(span.text, raw_limit):
        piece = styled(Span(part, span.style))
        yield piece if len(piece) <= limit else clip(piece, limit)


def section_texts(section: Section, limit: int = MAX_SECTION) -> list[str]:
    """A section's spans packed into as few mrkdwn texts of at most `limit` characters as possible."""
    texts: list[str] = []
    current = ""
    for span in section.spans:
        if not span.text:
            continue
        if span.style is Style.QUOTE and current and not current.endswith("\n"):
            current += "\n"  # a block quote only works at the start of a line
        for piece in _styled_pieces(span, limit):
            if len(current) + len(piece) <= limit:
                current += piece
            else:
                if current:
                    texts.append(current)
                current = piece
    if current:
        texts.append(current)
    return texts


# -- blocks -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SlackFile:
    data: bytes
    filename: str
    title: str
    alt: str = ""


@dataclass(frozen=True, slots=True)
class SlackMessage:
    text: str  # the notification / fallback text (mrkdwn, escaped)
    blocks: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Rendered:
    messages: tuple[SlackMessage, ...]
    files: tuple[SlackFile, ...] = ()


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": plain_text(text, limit) or " ", "emoji": True}


def _block_chars(block: dict[str, Any]) -> int:
    """Visible text a block carries (what `msg_blocks_too_long` counts)."""
    total = 0
    if isinstance(block.get("text"), dict):
        total += len(block["text"]["text"])
    for item in block.get("fields", ()) or ():
        total += len(item["text"])
    for item in block.get("elements", ()) or ():
        if isinstance(item.get("text"), dict):
            total += len(item["text"]["text"])
        elif isinstance(item.get("text"), str):
            total += len(item["text"])
    return total


def blocks_for(message: Message, *, for_view: bool = False) -> tuple[list[dict[str, Any]], list[SlackFile]]:
    """Every block of `message` within per-block limits (no message-level limits yet)."""
    blocks: list[dict[str, Any]] = []
    files: list[SlackFile] = []
    actions = 0
    for block in message.blocks:
        match block:
            case Header(text=text):
                blocks.append({"type": "header", "text": _plain(text, MAX_HEADER)})
            case Section():
                blocks.extend({"type": "section", "text": _mrkdwn(t)} for t in section_texts(block))
            case Fields(pairs=pairs):
                group: list[dict[str, Any]] = []
                for k, v in pairs:
                    item = _mrkdwn(_field(k, v))
                    size = sum(len(f["text"]) for f in group)
                    if group and (len(group) >= MAX_FIELDS or size + len(item["text"]) > MAX_FIELDS_CHARS):
                        blocks.append({"type": "section", "fields": group})
                        group = []
                    group.append(item)
                if group:
                    blocks.append({"type": "section", "fields": group})
            case CodeBlock(text=text):
                # ``` fences add 6 characters (plus two newlines) to each piece.
                for part in _split_text(text, max(50, (MAX_SECTION - 8) // 5)):
                    body = clip_mrkdwn(part, MAX_SECTION - 8, Style.CODE)
                    blocks.append({"type": "section", "text": _mrkdwn(f"```\n{body}\n```")})
            case Context(text=text):
                blocks.append({"type": "context", "elements": [_mrkdwn(clip_mrkdwn(text, MAX_CONTEXT))]})
            case Buttons(buttons=buttons):
                for i in range(0, len(buttons), MAX_ACTIONS):
                    actions += 1
                    elements = [
                        {
                            "type": "button",
                            "text": _plain(b.label, MAX_BUTTON_LABEL),
                            "action_id": b.action,
                            "value": b.value[:MAX_BUTTON_VALUE],
                        }
                        for b in buttons[i : i + MAX_ACTIONS]
                    ]
                    blocks.append({"type": "actions", "block_id": f"repbot_actions_{actions}", "elements": elements})
            case Image(png=png, alt=alt, filename=filename):
                if for_view:
                    blocks.append({"type": "context", "elements": [_mrkdwn(clip_mrkdwn(f"[image: {alt}]", MAX_CONTEXT))]})
                else:
                    files.append(SlackFile(png, filename, plain_text(alt, 250) or filename, plain_text(alt, 1000)))
            case Attachment(data=data, filename=filename):
                if for_view:
                    blocks.append({"type": "context", "elements": [_mrkdwn(clip_mrkdwn(f"[file: {filename}]", MAX_CONTEXT))]})
                else:
                    files.append(SlackFile(data, filename, plain_text(filename, 250)))
    return blocks, files


def _field(key: str, value: str) -> str:
    head = styled(Span(clip(key, 200), Style.BOLD))
    return head + "\n" + clip_mrkdwn(value, MAX_FIELD - len(head) - 1)


def fallback_text(message: Message, limit: int = MAX_TEXT) -> str:
    """The top-level `text`: the summary (or the visible text), escaped, never empty."""
    return clip_mrkdwn(message.summary or message.text() or "RepBot", limit)


def render(message: Message) -> Rendered:
    """A neutral message as one or more Slack messages (plus files to upload), all within limits."""
    blocks, files = blocks_for(message)
    chunks: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for block in blocks:
        chars = _block_chars(block)
        if current and (len(current) >= MAX_BLOCKS or size + chars > MAX_MESSAGE_CHARS):
            chunks.append(current)
            current, size = [], 0
        current.append(block)
        size += chars
    if current:
        chunks.append(current)
    first = fallback_text(message)
    # Cut the raw text, not the escaped one, so an entity such as `&amp;` is never cut in half.
    short = fallback_text(message, 200) if len(chunks) > 1 else first
    messages = tuple(
        SlackMessage(first if i == 0 else f"{short} (continued {i + 1}/{len(chunks)})", tuple(chunk))
        for i, chunk in enumerate(chunks)
    )
    if not messages:
        messages = (SlackMessage(first, ()),)  # a text-only message (e.g. files follow)
    return Rendered(messages, tuple(files))


def render_one(message: Message) -> SlackMessage:
    """Exactly one Slack message (for chat.update): the first chunk, marked "…" when cut."""
    rendered = render(message)
    head = rendered.messages[0]
    if len(rendered.messages) == 1:
        return head
    blocks = list(head.blocks)
    if len(blocks) >= MAX_BLOCKS:
        blocks = blocks[: MAX_BLOCKS - 1]
    blocks.append({"type": "context", "elements": [_mrkdwn(ELLIPSIS)]})
    return SlackMessage(head.text, tuple(blocks))


def render_view_blocks(message: Message, limit: int = MAX_VIEW_BLOCKS) -> list[dict[str, Any]]:
    """Blocks for a modal or App Home (at most `limit`; the last one says "…" when cut)."""
    blocks, _ = blocks_for(message, for_view=True)
    if len(blocks) > limit:
        blocks = blocks[: limit - 1] + [{"type": "context", "elements": [_mrkdwn(ELLIPSIS + " more not shown")]}]
    return blocks
