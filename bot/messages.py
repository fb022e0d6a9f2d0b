"""The neutral message model: a small tree that every adapter renders for its platform.

All text lives in spans. Renderers escape every span, so nothing written by a user (or by
the bot) can mention everyone or inject markup; styling comes only from the span's style.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Style(StrEnum):
    PLAIN = "plain"
    BOLD = "bold"
    ITALIC = "italic"
    CODE = "code"
    QUOTE = "quote"  # user-written text shown back to them


@dataclass(frozen=True, slots=True)
class Span:
    text: str
    style: Style = Style.PLAIN


def plain(text: str) -> Span:
    return Span(text)


def bold(text: str) -> Span:
    return Span(text, Style.BOLD)


def italic(text: str) -> Span:
    return Span(text, Style.ITALIC)


def code(text: str) -> Span:
    return Span(text, Style.CODE)


def quote(text: str) -> Span:
    return Span(text, Style.QUOTE)


@dataclass(frozen=True, slots=True)
class Header:
    text: str


@dataclass(frozen=True, slots=True)
class Section:
    spans: tuple[Span, ...]

    @classmethod
    def of(cls, *parts: str | Span) -> Section:
        return cls(tuple(p if isinstance(p, Span) else Span(p) for p in parts))

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.spans)


@dataclass(frozen=True, slots=True)
class Fields:
    pairs: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class CodeBlock:
    text: str


@dataclass(frozen=True, slots=True)
class Context:
    text: str


@dataclass(frozen=True, slots=True)
class Button:
    action: str
    label: str
    value: str = ""


@dataclass(frozen=True, slots=True)
class Buttons:
    buttons: tuple[Button, ...]


@dataclass(frozen=True, slots=True)
class Image:
    png: bytes
    alt: str
    filename: str = "chart.png"


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file the message carries (e.g. a CSV export)."""

    data: bytes
    filename: str
    mime: str = "text/plain"


Block = Header | Section | Fields | CodeBlock | Context | Buttons | Image | Attachment


@dataclass(frozen=True, slots=True)
class Message:
    blocks: tuple[Block, ...]
    summary: str = ""  # one-line fallback (notifications, screen readers)
    tags: frozenset[str] = field(default_factory=frozenset)  # what kind of message (for tests/metrics)

    def text(self) -> str:
        """All visible text, unstyled (for tests, logs and the console)."""
        out: list[str] = []
        for block in self.blocks:
            match block:
                case Header(text=t) | Context(text=t) | CodeBlock(text=t):
                    out.append(t)
                case Section():
                    out.append(block.text)
                case Fields(pairs=pairs):
                    out.extend(f"{k}: {v}" for k, v in pairs)
                case Buttons(buttons=buttons):
                    out.append(" ".join(f"[{b.label}]" for b in buttons))
                case Image(alt=alt):
                    out.append(f"[image: {alt}]")
                case Attachment(filename=name):
                    out.append(f"[file: {name}]")
        return "\n".join(out)


def message(*blocks: Block, summary: str = "", tags: tuple[str, ...] = ()) -> Message:
    return Message(tuple(blocks), summary=summary, tags=frozenset(tags))


def text_message(text: str, *, tags: tuple[str, ...] = ()) -> Message:
    return Message((Section.of(text),), summary=text[:150], tags=frozenset(tags))
