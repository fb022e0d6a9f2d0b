"""PNG charts for recaps (matplotlib, headless)."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402


def week_chart(days: Sequence[dt.date], answers: Sequence[int], averages: Sequence[float | None]) -> bytes:
    """Bars: answers per day; line: average score per day (0-10)."""
    figure = Figure(figsize=(6, 3), dpi=100)
    ax = figure.add_subplot()
    labels = [d.strftime("%a %d") for d in days]
    ax.bar(labels, answers, color="#4a7ebb", label="answers")
    ax.set_ylabel("answers")
    ax.set_ylim(0, max([*answers, 1]) * 1.25)
    ax2 = ax.twinx()
    xs = [i for i, a in enumerate(averages) if a is not None]
    ax2.plot(xs, [averages[i] for i in xs], color="#d0743c", marker="o", label="average score")
    ax2.set_ylim(0, 10)
    ax2.set_ylabel("average score")
    ax.set_title("Last week: participation and average score")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
