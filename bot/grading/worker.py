"""The grading worker: claims due answers, grades them, stores grades, then notifies.

A grader that is down delays grades, never drops them: the answer goes back to the queue with
a backoff, the answerer is told once, and after `max_delay` the offline grade is used (flagged).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, replace
from typing import Protocol

from bot.clock import Clock
from bot.grading.errors import GradingUnavailable
from bot.grading.model import Flag, Grade
from bot.grading.queue import GradingQueue, Job
from bot.metrics import Metrics
from bot.outage import OutageLog, is_outage
from bot.ports import Grader
from content.loader import QuestionBank

log = logging.getLogger(__name__)


class GradeListener(Protocol):
    async def graded(self, answer_id: int) -> None: ...

    async def delayed(self, answer_id: int) -> None: ...


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    batch: int = 8
    poll: float = 1.0
    max_delay: dt.timedelta = dt.timedelta(hours=1)
    max_backoff: dt.timedelta = dt.timedelta(minutes=5)


class GradingWorker:
    def __init__(
        self,
        queue: GradingQueue,
        grader: Grader,
        fallback: Grader,
        bank: QuestionBank,
        clock: Clock,
        listener: GradeListener,
        settings: WorkerSettings = WorkerSettings(),
        metrics: Metrics | None = None,
        outage: OutageLog | None = None,
    ):
        self._outage = outage or OutageLog("database", log)
        self._queue = queue
        self._grader = grader
        self._fallback = fallback
        self._bank = bank
        self._clock = clock
        self._listener = listener
        self._settings = settings
        self._metrics = metrics
        self._wake = asyncio.Event()
        self.graded_count = 0

    def wake(self) -> None:
        """Something was queued: look now instead of at the next poll."""
        self._wake.set()

    async def run_once(self) -> int:
        jobs = await self._queue.claim(self._settings.batch)
        if jobs:
            await asyncio.gather(*(self._process(job) for job in jobs))
        return len(jobs)

    async def run_until_idle(self, limit_seconds: float = 60.0) -> None:
        """Grade everything that is due now (console, tests); returns when nothing is due."""
        async with asyncio.timeout(limit_seconds):
            while await self.run_once():
                pass

    async def run_forever(self, stop: asyncio.Event) -> None:
        """A pipeline: keep up to `batch` answers in flight and claim more as each one finishes,
        so a slow grader (an LLM at 1 s per call) is never left idle while grades are stored."""
        in_flight: set[asyncio.Task[None]] = set()
        try:
            while not stop.is_set():
                free = self._settings.batch - len(in_flight)
                jobs: list[Job] = []
                if free > 0:
                    try:
                        jobs = await self._queue.claim(free)
                        self._outage.ok()
                    except Exception as exc:  # the loop must survive a database outage
                        self._failed("claiming answers to grade", exc)
                for job in jobs:
                    task = asyncio.create_task(self._process(job))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                if jobs and len(in_flight) < self._settings.batch:
                    continue
                self._wake.clear()
                woken = asyncio.create_task(self._wake.wait())
                await asyncio.wait({woken, *in_flight}, timeout=self._settings.poll, return_when=asyncio.FIRST_COMPLETED)
                woken.cancel()
        finally:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)

    def _failed(self, doing: str, exc: Exception) -> None:
        if is_outage(exc):
            self._outage.failed(doing, exc)
        else:
            log.error("grading: %s failed", doing, exc_info=exc)

    async def _process(self, job: Job) -> None:
        """Grade one claimed answer. Never raises: it runs as a task nobody awaits for its result.
        Whatever fails here leaves the answer leased, and the lease's expiry puts it back in the
        queue, so a failure delays the grade instead of losing it."""
        try:
            await self._grade(job)
        except Exception as exc:  # noqa: BLE001 - reported; the lease expiry retries it
            self._failed(f"grading answer {job.answer_id}" if not is_outage(exc) else "storing grades", exc)

    async def _grade(self, job: Job) -> None:
        question = self._bank.get(job.question_id)
        if question is None:
            log.error("answer %s refers to unknown question %s; kept queued", job.answer_id, job.question_id)
            await self._queue.postpone(job, self._settings.max_backoff)
            return
        try:
            grade = await self._grader.grade(question, job.text)
        except GradingUnavailable as exc:
            if self._metrics:
                self._metrics.grader_errors.inc()
            waited = self._clock.now() - job.received_at
            if waited < self._settings.max_delay:
                await self._postpone(job, exc.retry_after)
                return
            log.warning("grader unavailable for %s after %s; using offline grade", job.answer_id, waited)
            grade = await self._fallback.grade(question, job.text)
            grade = replace(grade, flags=grade.flags | {Flag.OFFLINE_FALLBACK})
        except Exception:
            if self._metrics:
                self._metrics.grader_errors.inc()
            log.exception("grader failed on answer %s; will retry", job.answer_id)
            await self._postpone(job, None)
            return
        await self._store(job, grade)

    async def _postpone(self, job: Job, retry_after: float | None) -> None:
        backoff = min(self._settings.max_backoff, dt.timedelta(seconds=self._settings.poll * 2 ** min(job.attempts, 10)))
        if retry_after is not None:
            backoff = max(backoff, dt.timedelta(seconds=retry_after))
        first_delay = not job.delay_notified
        if await self._queue.postpone(job, backoff, delay_notified=True if first_delay else None) and first_delay:
            await self._listener.delayed(job.answer_id)

    async def _store(self, job: Job, grade: Grade) -> None:
        if await self._queue.complete(job, grade):
            self.graded_count += 1
            if self._metrics:
                self._metrics.answers_graded.labels(grade.grader).inc()
                self._metrics.grading_latency.observe(max(0.0, (self._clock.now() - job.received_at).total_seconds()))
            await self._listener.graded(job.answer_id)
