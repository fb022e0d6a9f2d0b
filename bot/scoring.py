"""Points rules (pure): what an answer is worth on the leaderboard."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PointsRule:
    participation: int = 1  # for answering at all
    late_counts: bool = False  # answers after the reveal are graded but worth nothing by default


def points_for(score: float, *, late: bool, rule: PointsRule = PointsRule()) -> int:
    """The grade (0-10, rounded half up) plus a participation point; late answers earn 0."""
    if late and not rule.late_counts:
        return 0
    return int(max(0.0, min(10.0, score)) + 0.5) + rule.participation
