"""Prometheus metrics, one registry per RepBot instance (no global state)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from bot.health import HealthReport


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.answers_received = Counter(
            "repbot_answers_received", "Answers stored (new messages, not replays)", registry=self.registry
        )
        self.answers_duplicate = Counter("repbot_answers_duplicate", "Deliveries ignored as replays", registry=self.registry)
        self.answers_graded = Counter("repbot_answers_graded", "Grades stored", ["grader"], registry=self.registry)
        self.grading_latency = Histogram(
            "repbot_grading_latency_seconds",
            "From answer received to grade stored",
            registry=self.registry,
            buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
        )
        self.grader_errors = Counter(
            "repbot_grader_errors", "Grading attempts that failed (LLM down, timeouts)", registry=self.registry
        )
        self.posts_sent = Counter("repbot_posts_sent", "Daily or extra questions posted", registry=self.registry)
        self.queue_depth = Gauge("repbot_queue_depth", "Answers waiting for a grade", registry=self.registry)
        self.inbox_depth = Gauge(
            "repbot_inbox_depth", "Answers accepted but not yet filed (bot/inbox.py)", registry=self.registry
        )

        self.task_restarts = Counter(
            "repbot_task_restarts", "Background tasks restarted after an unexpected exit", ["task"], registry=self.registry
        )
        self.check_up = Gauge(
            "repbot_check_up", "1 when the named health check passes (as on /healthz), else 0", ["check"], registry=self.registry
        )
        self.grading_oldest_due = Gauge(
            "repbot_grading_oldest_due_seconds",
            "How long the longest-waiting due answer has waited for a grade",
            registry=self.registry,
        )

    async def render(
        self,
        queue_depth: Callable[[], Awaitable[int]],
        inbox_depth: Callable[[], Awaitable[int]],
        health: Callable[[], Awaitable[HealthReport]] | None = None,
    ) -> bytes:
        if health is not None:
            for name, check in (await health()).checks.items():
                self.check_up.labels(name).set(1 if check.ok else 0)
        # Depths need the database; while it is down the scrape still shows the checks above.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(3):
                self.queue_depth.set(await queue_depth())
                self.inbox_depth.set(await inbox_depth())
        return generate_latest(self.registry)

    def count(self, name: str) -> float:
        """A counter's current value by its exposed name (e.g. "repbot_answers_received_total")."""
        value = self.registry.get_sample_value(name)
        return 0.0 if value is None else value
