"""Why a grader could not return a grade right now.

The grading queue catches these: the answer stays queued (or falls back to the offline
grader) instead of being lost or graded with a made-up score.
"""

from __future__ import annotations


class GradingUnavailable(Exception):
    """The grader could not produce a trustworthy grade; keep the answer queued or fall back."""

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class GradingDelayed(GradingUnavailable):
    """The grading service asked us to come back later (rate limit); `retry_after` is in seconds."""

    def __init__(self, message: str, *, retry_after: float):
        super().__init__(message, retry_after=retry_after)
