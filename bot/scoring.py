"""Points rules (pure): what an answer is worth on the leaderboard."""

from __future__ import annotations

from dataclasses import dataclass

from bot.streaks import streak_bonus


@dataclass(frozen=True, slots=True)
class PointsRule:
    participation: int = 1  # for answering at all
    late_counts: bool = False  # answers after the reveal are graded but worth nothing by default
    streak_bonus: bool = True


def points_for(score: float, *, late: bool, streak: int = 0, rule: PointsRule = PointsRule()) -> int:
    """The grade (0-10, rounded half up), a participation point and a streak bonus; late = 0."""
    if late and not rule.late_counts:
        return 0
    bonus = streak_bonus(streak) if rule.streak_bonus and not late else 0
    return int(max(0.0, min(10.0, score)) + 0.5) + rule.participation + bonus
