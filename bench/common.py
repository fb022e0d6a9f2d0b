"""What every benchmark returns: rows of one table, measured side by side in one run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Row:
    name: str  # what was measured, e.g. "slack ack p99 RepBot / floor"
    value: float
    unit: str = "ratio"  # "ratio", "answers/s", "MiB", ...
    target: str = ""  # e.g. "<= 1.5"
    ok: bool | None = None  # None when there is no target
    detail: str = ""  # the raw figures behind a ratio


def check(value: float, target: str) -> bool:
    op, _, number = target.partition(" ")
    limit = float(number)
    return {"<=": value <= limit, ">=": value >= limit, "<": value < limit, ">": value > limit}[op]
