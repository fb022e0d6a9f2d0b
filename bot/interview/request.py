"""Parsing `interview [format] [difficulty] [n]`, `interview review [n]` and friends (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.interview.selection import DIFFICULTIES, FORMATS, MIXED

USAGE = (
    "`interview [format] [difficulty] [n]` — formats: pipeline-design, scripting, incident-process, behavioral, "
    "mixed (default); difficulty: junior, mid, senior, staff; n: 1-{max} questions (default {default}). "
    "`interview review [n]` practises your weakest questions first."
)


class Kind(StrEnum):
    START = "start"
    REVIEW = "review"
    TEAM = "team"  # admins: counts only
    HELP = "help"


@dataclass(frozen=True, slots=True)
class Request:
    kind: Kind = Kind.START
    format: str = MIXED
    difficulty: str | None = None
    count: int | None = None


def usage(default: int, maximum: int) -> str:
    return USAGE.format(default=default, max=maximum)


def parse_request(args: Sequence[str], *, default: int = 5, maximum: int = 10) -> Request | str:
    """A Request, or an error message that says how to write it."""
    kind, fmt, difficulty, count = Kind.START, MIXED, None, None
    for raw in args:
        word = raw.strip().lower()
        if not word:
            continue
        if word in ("review", "team", "help") and kind is Kind.START and fmt == MIXED and difficulty is None:
            kind = Kind(word)
        elif word in FORMATS:
            fmt = word
        elif word in DIFFICULTIES:
            difficulty = word
        elif word.isdigit():
            count = int(word)
            if not 1 <= count <= maximum:
                return f"Pick between 1 and {maximum} questions. " + usage(default, maximum)
        else:
            return f"I don't know '{raw[:30]}'. " + usage(default, maximum)
    return Request(kind, fmt, difficulty, count)
