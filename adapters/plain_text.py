"""Render neutral messages as plain terminal text, with control characters removed so user text
cannot move the cursor, clear the screen or recolour the terminal.

`clean` and `clip` are shared by every adapter's renderer (Slack, Discord, console)."""

from __future__ import annotations

import re

from bot.messages import Attachment, Buttons, CodeBlock, Context, Fields, Header, Image, Message, Section, Style

ELLIPSIS = "…"
# C0/C1 controls (except tab and newline) and bidi overrides that could reorder what people see.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """`text` without control characters or bidi overrides (tab and newline are kept)."""
    return _CONTROL.sub("", text)


def clip(text: str, limit: int) -> str:
    """Cut to at most `limit` characters, ending in a visible "…" when anything was cut."""
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + ELLIPSIS


def render(message: Message) -> str:
    lines: list[str] = []
    for block in message.blocks:
        match block:
            case Header(text=text):
                lines.append(f"== {clean(text)} ==")
            case Section(spans=spans):
                parts = []
                for span in spans:
                    text = clean(span.text)
                    if span.style is Style.QUOTE:
                        text = "> " + text.replace("\n", "\n> ")
                    elif span.style is Style.CODE:
                        text = f"`{text}`"
                    parts.append(text)
                lines.append("".join(parts))
            case Fields(pairs=pairs):
                lines.append("   ".join(f"{clean(k)}: {clean(v)}" for k, v in pairs))
            case CodeBlock(text=text):
                lines.append(clean(text))
            case Context(text=text):
                lines.append(f"   ({clean(text)})")
            case Buttons(buttons=buttons):
                lines.append(" ".join(f"[{clean(b.label)}]" for b in buttons))
            case Image(alt=alt, filename=name):
                lines.append(f"[image {clean(name)}: {clean(alt)}]")
            case Attachment(filename=name, data=data):
                lines.append(f"[file {clean(name)}, {len(data):,} bytes]")
    return "\n".join(lines)
