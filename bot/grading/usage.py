"""`repbot grader stats`: what grading cost and how it went, per day, from the grades table.

Prices are list prices in US dollars per million tokens, input and output, as published by
OpenAI when this was written (gpt-4o-mini $0.15 / $0.60, gpt-4o $2.50 / $10, gpt-4.1 $2 / $8,
gpt-4.1-mini $0.40 / $1.60, gpt-4.1-nano $0.10 / $0.40). A model not in the table (a
self-hosted Ollama or vLLM model, say) is costed at zero unless `--price-in/--price-out` are
given, which then apply to every LLM grade. Cached re-grades store zero tokens, so they cost
nothing here either.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.grading.model import Flag
from storage.models import GradeRow


@dataclass(frozen=True, slots=True)
class Price:
    input_per_million: float
    output_per_million: float

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.input_per_million + tokens_out * self.output_per_million) / 1_000_000


# Longest prefix wins, so "gpt-4o-mini-2024-07-18" is priced as gpt-4o-mini, not gpt-4o.
PRICES: Mapping[str, Price] = {
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1": Price(2.00, 8.00),
}
FREE = Price(0.0, 0.0)


def price_of(model: str | None, prices: Mapping[str, Price] = PRICES) -> Price:
    if not model:
        return FREE
    name = model.lower()
    matches = [prefix for prefix in prices if name.startswith(prefix)]
    return prices[max(matches, key=len)] if matches else FREE


@dataclass(slots=True)
class DayStats:
    day: dt.date
    grades_by_grader: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    needs_review: int = 0
    injection_suspected: int = 0
    unpriced_models: set[str] = field(default_factory=set)

    @property
    def grades(self) -> int:
        return sum(self.grades_by_grader.values())


@dataclass(frozen=True, slots=True)
class UsageRow:
    """The columns of one grade that the statistics need."""

    created_at: dt.datetime
    grader: str
    model: str | None
    tokens_in: int
    tokens_out: int
    flags: tuple[str, ...]


def summarize(rows: Iterable[UsageRow], *, price: Price | None = None) -> list[DayStats]:
    """Per UTC day, newest first. `price` overrides the table for every grade that used tokens."""
    days: dict[dt.date, DayStats] = {}
    for row in rows:
        day = row.created_at.astimezone(dt.UTC).date()
        stats = days.setdefault(day, DayStats(day))
        stats.grades_by_grader[row.grader] += 1
        stats.tokens_in += row.tokens_in
        stats.tokens_out += row.tokens_out
        if row.tokens_in or row.tokens_out:
            unit = price or price_of(row.model)
            if unit is FREE and row.model:
                stats.unpriced_models.add(row.model)
            stats.cost_usd += unit.cost(row.tokens_in, row.tokens_out)
        stats.needs_review += Flag.NEEDS_REVIEW.value in row.flags
        stats.injection_suspected += Flag.INJECTION_SUSPECTED.value in row.flags
    return sorted(days.values(), key=lambda d: d.day, reverse=True)


async def load_usage(session: AsyncSession, since: dt.datetime) -> list[UsageRow]:
    """Every grade stored since `since` (current or not: superseded grades were paid for too)."""
    result = await session.execute(
        select(
            GradeRow.created_at,
            GradeRow.grader,
            GradeRow.model,
            GradeRow.tokens_in,
            GradeRow.tokens_out,
            GradeRow.flags,
        ).where(GradeRow.created_at >= since)
    )
    return [
        UsageRow(created_at, grader, model, tokens_in or 0, tokens_out or 0, tuple(flags or ()))
        for created_at, grader, model, tokens_in, tokens_out, flags in result.all()
    ]


def format_days(days: list[DayStats]) -> list[str]:
    """The table `repbot grader stats` prints, plus a total line."""
    if not days:
        return ["no grades in this period"]
    graders = sorted({g for d in days for g in d.grades_by_grader})
    header = ["day", *graders, "tokens in", "tokens out", "cost USD", "review", "injection"]
    table = [
        [
            d.day.isoformat(),
            *(str(d.grades_by_grader.get(g, 0)) for g in graders),
            str(d.tokens_in),
            str(d.tokens_out),
            f"{d.cost_usd:.4f}",
            str(d.needs_review),
            str(d.injection_suspected),
        ]
        for d in days
    ]
    table.append(
        [
            "total",
            *(str(sum(d.grades_by_grader.get(g, 0) for d in days)) for g in graders),
            str(sum(d.tokens_in for d in days)),
            str(sum(d.tokens_out for d in days)),
            f"{sum(d.cost_usd for d in days):.4f}",
            str(sum(d.needs_review for d in days)),
            str(sum(d.injection_suspected for d in days)),
        ]
    )
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(len(header))]
    lines = [
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in [header, *table]
    ]
    unpriced = sorted({m for d in days for m in d.unpriced_models})
    if unpriced:
        lines.append(f"no list price for {', '.join(unpriced)}: costed at 0 (use --price-in/--price-out)")
    return lines
