"""Streaks (pure): consecutive scheduled questions answered.

A streak runs over the channel's daily posts, not over calendar days: weekends, holidays and
paused days have no post, so they can never break a streak. A question that is still open and
unanswered does not break it yet either.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Streak:
    current: int
    best: int


def streak(post_days: Sequence[dt.date], answered: Collection[dt.date], open_day: dt.date | None = None) -> Streak:
    """`post_days`: the channel's daily post days, any order; `answered`: days this person
    answered in time; `open_day`: the day of a post still taking answers, if any."""
    days = sorted(set(post_days))
    best = run = 0
    for day in days:
        if day in answered:
            run += 1
            best = max(best, run)
        elif day != open_day:
            run = 0
    return Streak(current=run, best=best)


def streak_at(post_days: Sequence[dt.date], answered: Collection[dt.date], day: dt.date) -> int:
    """The streak someone has right after answering the post of `day` (it counts)."""
    return streak([d for d in post_days if d <= day], set(answered) | {day}).current


def streak_bonus(length: int) -> int:
    """Extra points for keeping a habit: +1 from 3 questions in a row, +2 from 7, +3 from 15."""
    if length >= 15:
        return 3
    if length >= 7:
        return 2
    if length >= 3:
        return 1
    return 0
