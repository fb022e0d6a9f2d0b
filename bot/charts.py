"""PNG charts for recaps (matplotlib, headless).

matplotlib is imported when a chart is drawn, not at start-up: it is a third of the idle
process's memory and a recap is drawn once a week.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def week_figure(days: Sequence[dt.date], answers: Sequence[int], averages: Sequence[float | None], title: str) -> Figure:
    """Bars: answers per day (a count, so whole-number ticks); line: average score per day (0-10),
    broken on days without answers rather than drawn across them as if they had an average."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(6, 3), dpi=100)
    ax = figure.add_subplot()
    labels = [d.strftime("%a %d") for d in days]
    bars = ax.bar(labels, answers, color="#4a7ebb", label="answers")
    ax.set_ylabel("answers")
    ax.set_ylim(0, max([*answers, 1]) * 1.25)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax2 = ax.twinx()
    # NaN (not a skipped point) is what makes matplotlib leave a gap in the line.
    ys = [math.nan if a is None else a for a in averages]
    (line,) = ax2.plot(range(len(days)), ys, color="#d0743c", marker="o", label="average score")
    ax2.set_ylim(0, 10)
    ax2.set_ylabel("average score")
    ax.set_title(title)
    ax.legend(handles=[bars, line], loc="upper left", fontsize="small")
    figure.tight_layout()
    return figure


def week_chart(
    days: Sequence[dt.date],
    answers: Sequence[int],
    averages: Sequence[float | None],
    title: str = "Last week: participation and average score",
) -> bytes:
    buffer = io.BytesIO()
    week_figure(days, answers, averages, title).savefig(buffer, format="png")
    return buffer.getvalue()
