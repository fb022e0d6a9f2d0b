"""Scheduling with APScheduler 3: a cron job per channel at its local time and weekdays, a
sweep that closes due posts, and a catch-up at start-up for posts missed while down.

Every replica runs the same jobs; the unique (channel, day) key decides who posts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.daily import DailyFlow, schedule_of
from bot.health import Check
from storage.models import Channel, Post

log = logging.getLogger(__name__)

SWEEP_SECONDS = 30
# A cron firing is honoured up to this late even with no catch-up grace configured.
FIRE_LATENESS = dt.timedelta(minutes=1)
FAN_OUT = 64  # channels posted at once; the adapters pace requests to their platform's limits


class Scheduler:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        daily: DailyFlow,
        clock: Clock,
        grace: dt.timedelta,
        after_post: Callable[[int, dt.date], Awaitable[object]] | None = None,
        sweeps: Sequence[Callable[[], Awaitable[object]]] = (),
    ):
        self._after_post = after_post
        self._sweeps = tuple(sweeps)
        self._sessions = sessions
        self._daily = daily
        self._clock = clock
        self._grace = grace
        self._aps = AsyncIOScheduler(timezone=dt.UTC)
        self.watch_seconds = float(SWEEP_SECONDS)  # how often `watch` looks at APScheduler
        self._last_sweep: float | None = None  # event-loop time the sweep last ran (or start-up)

    async def start(self) -> None:
        await self.catch_up()
        await self._install_jobs()
        self._aps.start()
        self._last_sweep = asyncio.get_running_loop().time()

    async def _install_jobs(self) -> None:
        async with self._sessions() as session:
            channels = (await session.execute(select(Channel).where(Channel.enabled.is_(True)))).scalars().all()
        for channel in channels:
            self.sync_channel(channel)
        self._aps.add_job(
            self.sweep, IntervalTrigger(seconds=SWEEP_SECONDS), id="sweep", replace_existing=True, max_instances=1, coalesce=True
        )

    async def watch(self) -> None:
        """Supervised (bot/supervise.py): APScheduler runs the jobs from the event loop; should it
        stop, this raises, and the restart starts it again with every channel's job (a stopped
        APScheduler drops its jobs) and catches up on what it missed meanwhile."""
        if not self._aps.running:
            await self._install_jobs()
            self._aps.start()
            await self.sweep()
        while True:
            await asyncio.sleep(self.watch_seconds)
            if not self._aps.running:
                raise RuntimeError("APScheduler stopped running")

    def check(self) -> Check:
        """Down when APScheduler is not running or its 30-second sweep has not run for 3 intervals."""
        if not self._aps.running:
            return Check(False, "not running")
        if self._last_sweep is None:
            return Check(False, "not started")
        ago = asyncio.get_running_loop().time() - self._last_sweep
        return Check(ago <= 3 * SWEEP_SECONDS, f"last sweep {ago:.0f} s ago ({len(self._aps.get_jobs())} jobs)")

    def stop(self) -> None:
        if self._aps.running:
            self._aps.shutdown(wait=False)

    def sync_channel(self, channel: Channel) -> None:
        """(Re)install the channel's daily cron job after its schedule changed."""
        schedule = schedule_of(channel)
        trigger = CronTrigger(
            day_of_week=",".join(schedule.weekdays),
            hour=schedule.post_time.hour,
            minute=schedule.post_time.minute,
            timezone=schedule.tz,
        )
        self._aps.add_job(
            self.fire,
            trigger,
            args=[channel.id],
            id=self._forget(f"post:{channel.id}"),
            replace_existing=True,
            misfire_grace_time=int(self._grace.total_seconds()) or None,
            coalesce=True,
        )

    def _forget(self, job_id: str) -> str:
        """Drop a job of that id, also one queued before the scheduler started (APScheduler 3's
        replace_existing only looks at started jobs)."""
        if self._aps.get_job(job_id) is not None:
            self._aps.remove_job(job_id)
        return job_id

    async def fire(self, channel_id: int) -> None:
        async with self._sessions() as session:
            channel = await session.get(Channel, channel_id)
        if channel is None or not channel.enabled:
            return
        # Judged on the channel's current row: another replica may have moved the post time
        # since this process installed the job, and then this firing is not the post's time.
        day = schedule_of(channel).due_day(self._clock.now(), max(self._grace, FIRE_LATENESS))
        if day is not None and await self._daily.post_daily(channel_id, day) is not None:
            await self._posted(channel_id, day)

    async def _posted(self, channel_id: int, day: dt.date) -> None:
        """Follow-ups of a daily post (the weekly recap); failures never undo the post."""
        if self._after_post is None:
            return
        try:
            await self._after_post(channel_id, day)
        except Exception:
            log.exception("after-post hook failed for channel %s", channel_id)

    async def sweep(self) -> None:
        try:
            await self.catch_up()  # closes due posts first
            for extra in self._sweeps:
                await extra()
        except Exception:
            log.exception("schedule sweep failed")
        finally:
            self._last_sweep = asyncio.get_running_loop().time()

    async def catch_up(self) -> int:
        """Close due posts (the reveal), then post today's question where its time passed within
        the grace window and none exists."""
        await self._daily.close_due()
        now = self._clock.now()
        async with self._sessions() as session:
            channels = (await session.execute(select(Channel).where(Channel.enabled.is_(True)))).scalars().all()
            existing = {
                (c, d)
                for c, d in (
                    await session.execute(
                        select(Post.channel_id, Post.day).where(
                            Post.slot == 0, Post.status != "claimed", Post.day >= (now - dt.timedelta(days=2)).date()
                        )
                    )
                ).all()
            }
        due = [
            (channel.id, day)
            for channel in channels
            if (day := schedule_of(channel).due_day(now, self._grace)) is not None and (channel.id, day) not in existing
        ]
        gate = asyncio.Semaphore(FAN_OUT)
        failed: dict[int, Exception] = {}

        async def post(channel_id: int, day: dt.date) -> int:
            async with gate:
                try:
                    if await self._daily.post_daily(channel_id, day) is None:
                        return 0
                except Exception as exc:  # one channel's platform error must not stop the others
                    failed[channel_id] = exc
                    return 0
            await self._posted(channel_id, day)
            return 1

        posted = sum(await asyncio.gather(*(post(c, d) for c, d in due)))
        if failed:
            self._log_failures(failed)
        return posted

    @staticmethod
    def _log_failures(failed: dict[int, Exception]) -> None:
        """One line per sweep, not a traceback per channel: a platform outage fails them all alike."""
        kinds = Counter(type(exc).__name__ for exc in failed.values())
        channel_id, first = next(iter(failed.items()))
        log.error(
            "posting the daily question failed in %d channel(s) (%s); the next sweep retries. First: channel %s: %s",
            len(failed),
            ", ".join(f"{kind} x{n}" for kind, n in kinds.items()),
            channel_id,
            str(first).split("\n", 1)[0][:300] or type(first).__name__,
            exc_info=first if len(failed) == 1 else None,
        )
