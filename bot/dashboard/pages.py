"""HTML for the dashboard: Jinja2 templates with autoescaping (every name and text from the database
is escaped by the template engine, never by hand), and charts as inline SVG computed here.

Inline SVG needs no script and no image request, so the page works offline and under a
Content-Security-Policy that allows no script at all. Each chart has a title, a text summary and
the same numbers as a table, for screen readers and for anyone who prefers the numbers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bot.dashboard.data import BUCKETS, WeekPoint

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # under the bar
    value: str  # above the bar


@dataclass(frozen=True, slots=True)
class Point:
    x: float
    y: float
    label: str
    value: str


@dataclass(frozen=True, slots=True)
class Chart:
    """One SVG chart in a 600 x 240 view box: bars or a line, with y gridlines."""

    title: str
    summary: str  # the text alternative: what the chart says, in words
    bars: tuple[Bar, ...] = ()
    points: tuple[Point, ...] = ()
    grid: tuple[tuple[float, str], ...] = ()  # (y, label)
    width: int = 600
    height: int = 240

    @property
    def path(self) -> str:
        return " ".join(f"{'M' if i == 0 else 'L'}{p.x:.1f},{p.y:.1f}" for i, p in enumerate(self.points))


LEFT, RIGHT, TOP, BOTTOM = 40.0, 10.0, 24.0, 36.0


def _week_label(day: dt.date) -> str:
    return day.strftime("%d %b")


def answers_chart(weeks: Sequence[WeekPoint]) -> Chart:
    """Bars: answers per week; above each bar, the week's participation."""
    width, height = 600, 240
    top = max([w.answers for w in weeks] + [1])
    inner_w, inner_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    slot = inner_w / max(len(weeks), 1)
    bars = []
    for i, w in enumerate(weeks):
        h = inner_h * w.answers / top
        value = f"{w.answers}" + (f" · {100 * w.participation:.0f}%" if w.participation is not None else "")
        bars.append(Bar(LEFT + i * slot + slot * 0.15, TOP + inner_h - h, slot * 0.7, h, _week_label(w.start), value))
    grid = tuple((TOP + inner_h - inner_h * f, f"{top * f:.0f}") for f in (0, 0.5, 1))
    busiest = max(weeks, key=lambda w: w.answers, default=None)
    latest = weeks[-1] if weeks else None
    summary = (
        f"Answers per week over the last {len(weeks)} weeks: "
        + ", ".join(
            f"week of {_week_label(w.start)} {w.answers}"
            + (f" ({100 * w.participation:.0f}% participation)" if w.participation is not None else "")
            for w in weeks
        )
        + "."
    )
    if busiest is not None and latest is not None:
        summary += f" Busiest: week of {_week_label(busiest.start)}."
    return Chart("Answers and participation per week", summary, bars=tuple(bars), grid=grid)


def average_chart(weeks: Sequence[WeekPoint]) -> Chart:
    """A line: the average grade (0-10) per week; weeks without answers leave a gap in the points."""
    width, height = 600, 240
    inner_w, inner_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    slot = inner_w / max(len(weeks), 1)
    points = tuple(
        Point(LEFT + i * slot + slot / 2, TOP + inner_h - inner_h * w.average / 10, _week_label(w.start), f"{w.average:.1f}")
        for i, w in enumerate(weeks)
        if w.average is not None
    )
    grid = tuple((TOP + inner_h - inner_h * v / 10, str(v)) for v in (0, 5, 10))
    known = [w for w in weeks if w.average is not None]
    summary = (
        "Average grade per week (0 to 10): "
        + (", ".join(f"week of {_week_label(w.start)} {w.average:.1f}" for w in known) or "no graded answers yet")
        + "."
    )
    labels = tuple(Bar(LEFT + i * slot, 0, slot, 0, _week_label(w.start), "") for i, w in enumerate(weeks))
    return Chart("Average grade per week", summary, bars=labels, points=points, grid=grid)


def distribution_label(distribution: Sequence[int]) -> str:
    return "Score distribution: " + ", ".join(f"{lo}–{hi}: {n}" for (lo, hi), n in zip(BUCKETS, distribution, strict=True))


def bucket_rows(distribution: Sequence[int]) -> list[tuple[str, int]]:
    return [(f"{lo}–{hi}", n) for (lo, hi), n in zip(BUCKETS, distribution, strict=True)]


def heat_class(average: float | None) -> str:
    """A colour bucket for a heatmap cell (the number is always printed too, never colour alone)."""
    if average is None:
        return "h-none"
    return f"h{min(4, int(average // 2))}"


def fmt_avg(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def fmt_pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"


class Pages:
    """Renders each page to a string; the web layer only picks the template and the data."""

    def __init__(self) -> None:
        self._env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=True,  # every {{ value }} is HTML-escaped, in SVG <text> and attributes too
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.globals.update(
            answers_chart=answers_chart,
            average_chart=average_chart,
            distribution_label=distribution_label,
            bucket_rows=bucket_rows,
            heat_class=heat_class,
            fmt_avg=fmt_avg,
            fmt_pct=fmt_pct,
            week_label=_week_label,
        )

    def render(self, template: str, **context: Any) -> str:
        return self._env.get_template(template).render(**context)

    @staticmethod
    def stylesheet() -> bytes:
        return (STATIC / "dashboard.css").read_bytes()
