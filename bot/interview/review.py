"""Spaced repetition for weak questions, SM-2 style (pure).

A question enters the review queue when it scores below 6/10. Each later score is an SM-2
quality q = floor(score / 2) (0..5), so "passing" (q >= 3) means 6/10 or better, the same line
as entry. A failed review comes back the next day; passes come back after 2 days, then 6, then
the previous interval times the easiness factor (which falls with poor recalls, floor 1.3).
SM-2's own first step is 1 day; 2 days is used because every card enters with a failure that
already scheduled it for the next day, so the intervals visibly grow.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

ENTRY_BELOW = 6.0
START_EASINESS = 2.5
MIN_EASINESS = 1.3
FIRST_INTERVALS = (2.0, 6.0)  # days after the first and second pass in a row
FAIL_INTERVAL = 1.0


@dataclass(frozen=True, slots=True)
class ReviewCard:
    easiness: float
    repetitions: int  # passes in a row
    interval_days: float
    due_at: dt.datetime
    last_score: float
    reviews: int  # times scored since entering the queue


def quality(score: float) -> int:
    return max(0, min(5, int(score // 2)))


def schedule(card: ReviewCard | None, score: float, now: dt.datetime) -> ReviewCard | None:
    """The card after a score; None when the question is not (and does not enter) the queue."""
    if card is None:
        if score >= ENTRY_BELOW:
            return None
        card = ReviewCard(START_EASINESS, 0, 0.0, now, score, 0)
    q = quality(score)
    easiness = max(MIN_EASINESS, card.easiness + 0.1 - (5 - q) * (0.08 + (5 - q) * 0.02))
    if q < 3:
        repetitions, interval = 0, FAIL_INTERVAL
    else:
        repetitions = card.repetitions + 1
        if repetitions <= len(FIRST_INTERVALS):
            interval = FIRST_INTERVALS[repetitions - 1]
        else:
            interval = round(card.interval_days * easiness, 1)
    return ReviewCard(
        easiness=round(easiness, 3),
        repetitions=repetitions,
        interval_days=interval,
        due_at=now + dt.timedelta(days=interval),
        last_score=score,
        reviews=card.reviews + 1,
    )
