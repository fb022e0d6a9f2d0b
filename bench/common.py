"""What every benchmark returns: rows of one table, measured side by side in one run."""

from __future__ import annotations

import math
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


def print_rows(rows: list[Row]) -> None:
    """The table `make bench` prints; each module's own `python -m bench.<name>` prints the same."""
    width = max([len(r.name) for r in rows] + [10])
    print(f"{'benchmark'.ljust(width)}  {'value':>10}  {'unit':10}  {'target':8}  ok    detail")
    for r in rows:
        value = "n/a" if math.isnan(r.value) else f"{r.value:.3g}" if r.value < 1000 else f"{r.value:,.0f}"
        ok = "—" if r.ok is None else ("yes" if r.ok else "NO")
        print(f"{r.name.ljust(width)}  {value:>10}  {r.unit:10}  {r.target:8}  {ok:4}  {r.detail}")
