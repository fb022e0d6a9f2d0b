"""Logging a dependency that is down without flooding the log.

A database outage makes every ack, every filing round and every grading poll fail, each with a
long traceback: 15 s of PostgreSQL down once wrote about 76,500 lines. An `OutageLog` writes the
first failure of each kind (what was being done + the exception type) in full, then one line per
kind per interval with how many more there were, and one line when the dependency works again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy.exc

DEFAULT_INTERVAL = 60.0  # seconds between "still failing" lines of one kind


@dataclass(slots=True)
class _Kind:
    first_at: float
    logged_at: float
    total: int = 1
    unlogged: int = 0  # failures since the last line of this kind


class OutageLog:
    """The log of one dependency ("database", "feedback delivery"); not thread-safe (one loop)."""

    def __init__(
        self,
        name: str,
        logger: logging.Logger,
        interval: float = DEFAULT_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.name = name
        self._log = logger
        self._interval = interval
        self._now = monotonic
        self._kinds: dict[str, _Kind] = {}
        self._down_since: float | None = None

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def down_for(self) -> float:
        """Seconds since the first failure of the current outage (0 when up)."""
        return 0.0 if self._down_since is None else self._now() - self._down_since

    def failed(self, doing: str, exc: BaseException) -> None:
        """Count a failure; logs only the first of its kind and then once per interval."""
        now = self._now()
        if self._down_since is None:
            self._down_since = now
        kind = f"{doing}: {type(exc).__name__}"
        state = self._kinds.get(kind)
        if state is None:
            self._kinds[kind] = _Kind(first_at=now, logged_at=now)
            # The first of a kind keeps its traceback: it is the one that explains the outage.
            self._log.error(
                "%s unavailable (%s): %s; further failures of this kind are counted and logged every %.0f s",
                self.name,
                doing,
                _brief(exc),
                self._interval,
                exc_info=exc,
            )
            return
        state.total += 1
        state.unlogged += 1
        if now - state.logged_at >= self._interval:
            self._log.error(
                "%s still unavailable (%s): %d failures of %s in the last %.0f s, %d since %.0f s ago; latest: %s",
                self.name,
                doing,
                state.unlogged,
                type(exc).__name__,
                now - state.logged_at,
                state.total,
                now - state.first_at,
                _brief(exc),
            )
            state.logged_at = now
            state.unlogged = 0

    def ok(self) -> None:
        """The dependency answered: one line if it had been failing, else nothing (cheap)."""
        if self._down_since is None:
            return
        total = sum(k.total for k in self._kinds.values())
        kinds = ", ".join(f"{kind} x{k.total}" for kind, k in self._kinds.items())
        self._log.warning("%s is back after %.1f s; %d failures while it was down (%s)", self.name, self.down_for(), total, kinds)
        self._down_since = None
        self._kinds.clear()


def _brief(exc: BaseException) -> str:
    """The exception's first line, short: SQLAlchemy appends the whole statement and a link."""
    text = str(exc).strip().split("\n", 1)[0] or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def is_outage(exc: BaseException) -> bool:
    """An error that means a dependency is unreachable or dropped us, not a bug in our code."""
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        # What our statements or data did wrong is a bug to see in full; everything else the
        # driver raises (refused, dropped, "not accepting connections", "starting up") is the
        # database being away. asyncpg's refusals arrive as plain DBAPIError.
        return bool(exc.connection_invalidated) or not isinstance(
            exc,
            (
                sqlalchemy.exc.IntegrityError,
                sqlalchemy.exc.DataError,
                sqlalchemy.exc.ProgrammingError,
                sqlalchemy.exc.NotSupportedError,
            ),
        )
    # sqlalchemy.exc.TimeoutError: no pooled connection came free in time (an overloaded or stuck
    # database looks the same from here).
    return isinstance(
        exc, (OSError, ConnectionError, TimeoutError, sqlalchemy.exc.DisconnectionError, sqlalchemy.exc.TimeoutError)
    )


class Unavailable(Exception):
    """A request failed because a dependency is down; the failure is already in its OutageLog,
    so whoever catches this answers with an error (the platform redelivers) without logging it."""
