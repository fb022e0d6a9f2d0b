"""What /healthz, /readyz and /metrics report: named checks, each ok or not with a short reason.

Checks are registered by whoever knows the thing checked: the app (database, grading queue,
grader, background tasks) and each platform adapter (its connection). Every check is bounded by
a timeout, so a hung database makes the report say so instead of hanging the probe.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.grading.model import Grade
from bot.ports import Grader
from content.schema import Question
from storage.models import Answer

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 3.0


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    detail: str = ""


Probe = Callable[[], Awaitable[Check]]


@dataclass(frozen=True, slots=True)
class HealthReport:
    checks: dict[str, Check]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.ok else "down",
            "checks": {name: {"ok": c.ok, "detail": c.detail} for name, c in self.checks.items()},
        }


class Health:
    def __init__(self, timeout: float = PROBE_TIMEOUT):
        self._timeout = timeout
        self._probes: dict[str, Probe] = {}
        self._readiness: set[str] = set()

    def add(self, name: str, probe: Probe, *, readiness: bool = False) -> None:
        """Register a check; `readiness` ones also decide /readyz (can this replica take traffic)."""
        self._probes[name] = probe
        if readiness:
            self._readiness.add(name)

    def remove(self, name: str) -> None:
        self._probes.pop(name, None)
        self._readiness.discard(name)

    async def report(self) -> HealthReport:
        return await self._run(self._probes)

    async def readiness(self) -> HealthReport:
        return await self._run({n: p for n, p in self._probes.items() if n in self._readiness})

    async def _run(self, probes: dict[str, Probe]) -> HealthReport:
        names = sorted(probes)
        results = await asyncio.gather(*(self._bounded(probes[n]) for n in names))
        return HealthReport(dict(zip(names, results, strict=True)))

    async def _bounded(self, probe: Probe) -> Check:
        try:
            async with asyncio.timeout(self._timeout):
                return await probe()
        except TimeoutError:
            return Check(False, f"no answer within {self._timeout:g} s")
        except Exception as exc:  # noqa: BLE001 - a failing probe is a failed check, not a 500
            return Check(False, f"{type(exc).__name__}: {exc}"[:200])


async def database_check(engine: AsyncEngine) -> Check:
    async with engine.connect() as conn:
        await conn.exec_driver_sql("SELECT 1")
    return Check(True, "answers")


async def oldest_due_seconds(sessions: async_sessionmaker[AsyncSession], clock: Clock) -> float:
    """How long the longest-waiting due answer has waited for a grade (0 when none waits).

    Answers waiting on purpose (quiet period, backoff while the LLM is down) are not due yet;
    a grading claim whose lease expired is due again from its expiry.
    """
    now = clock.now()
    async with sessions() as session:
        pending = (
            await session.execute(
                select(func.min(Answer.available_at)).where(Answer.status == "pending", Answer.available_at <= now)
            )
        ).scalar_one()
        expired = (
            await session.execute(
                select(func.min(Answer.lease_until)).where(Answer.status == "grading", Answer.lease_until < now)
            )
        ).scalar_one()
    oldest = [t if t.tzinfo else t.replace(tzinfo=dt.UTC) for t in (pending, expired) if t is not None]
    return max(0.0, (now - min(oldest)).total_seconds()) if oldest else 0.0


class WatchedGrader:
    """A Grader that remembers whether its last calls failed, for the health report."""

    def __init__(self, inner: Grader, clock: Clock):
        self.inner = inner
        self.name = inner.name
        self._clock = clock
        self._failing_since: dt.datetime | None = None
        self._last_error = ""

    def __getattr__(self, attr: str) -> Any:  # anything else a caller reads comes from the real grader
        return getattr(self.inner, attr)

    async def grade(self, question: Question, answer_text: str) -> Grade:
        try:
            grade = await self.inner.grade(question, answer_text)
        except Exception as exc:
            if self._failing_since is None:
                self._failing_since = self._clock.now()
            self._last_error = f"{type(exc).__name__}: {exc}"[:200]
            raise
        self._failing_since = None
        return grade

    def check(self) -> Check:
        if self._failing_since is None:
            return Check(True, self.name)
        return Check(False, f"{self.name} failing since {self._failing_since:%Y-%m-%d %H:%M:%S} UTC: {self._last_error}")
