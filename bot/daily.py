"""The daily flow: claim the (channel, day) post, post the question, close and reveal it.

The post row is claimed before anything is sent; unique (channel, day, slot) means two
schedulers (or replicas) firing together produce one post. A claim whose process died before
posting expires and can be taken over, so a crash delays the post instead of losing it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.calendar import ChannelSchedule
from bot.clock import Clock
from bot.config import Settings
from bot.events import MessageRef, Place
from bot.feedback import place_of, thread_of
from bot.metrics import Metrics
from bot.ports import Chat
from bot.selection import choose_question
from bot.views import RevealSummary, question_message, reveal_message
from content.loader import QuestionBank
from storage.db import transaction
from storage.models import Answer, Channel, GradeRow, Member, Post
from storage.repo import get_or_create_channel

log = logging.getLogger(__name__)

CLAIM_TTL = dt.timedelta(minutes=2)
# After a failed post the claim ends this soon, so the scheduler's next sweep (every 30 s) posts
# it, instead of waiting out CLAIM_TTL, which is only for a process that died mid-post.
POST_RETRY_AFTER = dt.timedelta(seconds=5)


def schedule_of(channel: Channel) -> ChannelSchedule:
    return ChannelSchedule(
        timezone=channel.timezone,
        post_time=dt.time.fromisoformat(channel.post_time),
        weekdays=tuple(channel.weekdays.split(",")),
        paused=channel.paused,
        skip_days=frozenset(dt.date.fromisoformat(d) for d in channel.skip_days or []),
        holiday_country=channel.holiday_country,
        holiday_subdivision=channel.holiday_subdivision,
    )


@dataclass(frozen=True, slots=True)
class Posted:
    post_id: int
    question_id: str
    ref: MessageRef
    slot: int = 0

    @property
    def daily(self) -> bool:
        """The day's scheduled question (slot 0): the one streaks and the weekly recap follow."""
        return self.slot == 0


class DailyFlow:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        chat: Chat,
        bank: QuestionBank,
        clock: Clock,
        settings: Settings,
        metrics: Metrics | None = None,
    ):
        self._metrics = metrics
        self._sessions = sessions
        self._chat = chat
        self._bank = bank
        self._clock = clock
        self._settings = settings
        # Follow-ups of the day's question posted on demand (the weekly recap); set in bot/app.py.
        self.on_daily_posted: Callable[[int, dt.date], Awaitable[object]] | None = None

    async def ensure_channel(self, place: Place, name: str = "") -> Channel:
        s = self._settings
        async with transaction(self._sessions) as session:
            return await get_or_create_channel(
                session,
                place.platform,
                place.workspace,
                place.channel,
                lambda: Channel(
                    platform=place.platform,
                    workspace=place.workspace,
                    channel_ref=place.channel,
                    name=name,
                    timezone=s.timezone,
                    post_time=s.post_time.strftime("%H:%M"),
                    weekdays=",".join(s.weekdays),
                    holiday_country=s.holiday_country,
                    window_hours=s.answer_window_hours,
                    topics=[],
                    skip_days=[],
                ),
            )

    def has_question(self, question_id: str) -> bool:
        return self._bank.get(question_id) is not None

    async def post_daily(self, channel_id: int, day: dt.date, question_id: str | None = None) -> Posted | None:
        """The scheduled post for `day` (slot 0); None when another process already has it."""
        return await self._post(channel_id, day, slot=0, question_id=question_id)

    async def post_extra(self, channel_id: int, question_id: str | None = None) -> Posted | None:
        """A question now (the `question` command, the console). Once today's post time has passed
        on a scheduled day with no post yet, it is the day's question; otherwise an extra one in
        the next free slot, so it never takes the day's slot before its time (the scheduled post
        and the weekly recap after it still run)."""
        now = self._clock.now()
        async with self._sessions() as session:
            channel = await session.get(Channel, channel_id)
            assert channel is not None
            schedule = schedule_of(channel)
            day = schedule.local_day(now)
            highest = (
                await session.execute(select(func.max(Post.slot)).where(Post.channel_id == channel_id, Post.day == day))
            ).scalar()
        due = schedule.is_scheduled(day) and schedule.opens_at(day) <= now
        slot = 0 if highest is None and due else 1 if highest is None else highest + 1
        posted = await self._post(channel_id, day, slot=slot, question_id=question_id)
        if posted is not None and posted.daily and self.on_daily_posted is not None:
            try:
                await self.on_daily_posted(channel_id, day)
            except Exception:  # the question is posted; a failed recap must not look like a failed post
                log.exception("after-post hook failed for channel %s", channel_id)
        return posted

    async def _post(self, channel_id: int, day: dt.date, slot: int, question_id: str | None = None) -> Posted | None:
        now = self._clock.now()
        claimed = await self._claim(channel_id, day, slot, now, question_id)
        if claimed is None:
            return None
        post_id, channel, question_id = claimed
        question = self._bank.get(question_id)
        assert question is not None
        schedule = schedule_of(channel)
        closes_at = (
            max(now, schedule.opens_at(day)) + dt.timedelta(hours=channel.window_hours)
            if slot == 0
            else now + dt.timedelta(hours=channel.window_hours)
        )
        try:
            ref = await self._chat.post(
                place_of(channel), question_message(question, post_id, closes_at, channel.timezone, extra=slot > 0)
            )
        except Exception:
            await self._release(post_id)
            raise
        root = ref.root
        async with transaction(self._sessions) as session:
            await session.execute(
                update(Post)
                .where(Post.id == post_id)
                .values(
                    status="open",
                    message_ref=root.message_id,
                    thread_ref=root.thread_id,
                    posted_at=now,
                    closes_at=closes_at,
                    claimed_until=None,
                )
            )
        log.info("posted question %s to channel %s for %s", question_id, channel_id, day)
        if self._metrics:
            self._metrics.posts_sent.inc()
        return Posted(post_id, question_id, root, slot)

    async def _release(self, post_id: int) -> None:
        """The platform refused the post: give the claim up now, with a short retry time."""
        try:
            async with transaction(self._sessions) as session:
                await session.execute(
                    update(Post)
                    .where(Post.id == post_id, Post.status == "claimed")
                    .values(claimed_until=self._clock.now() + POST_RETRY_AFTER)
                )
        except Exception:  # noqa: BLE001 - the claim still expires after CLAIM_TTL
            log.warning("could not release the claim on post %s; it expires in %s", post_id, CLAIM_TTL, exc_info=True)

    async def _claim(
        self, channel_id: int, day: dt.date, slot: int, now: dt.datetime, wanted: str | None = None
    ) -> tuple[int, Channel, str] | None:
        try:
            async with transaction(self._sessions) as session:
                channel = await session.get(Channel, channel_id)
                if channel is None:
                    return None
                existing = (
                    await session.execute(select(Post).where(Post.channel_id == channel_id, Post.day == day, Post.slot == slot))
                ).scalar_one_or_none()
                if existing is not None:
                    # Take over a claim only if its owner died before posting.
                    taken = await session.execute(
                        update(Post)
                        .where(Post.id == existing.id, Post.status == "claimed", Post.claimed_until < now)
                        .values(claimed_until=now + CLAIM_TTL)
                    )
                    if taken.rowcount != 1:  # type: ignore[attr-defined]
                        return None
                    return existing.id, channel, existing.question_id
                question_id = wanted or await self._next_question(session, channel, f"{channel_id}:{day}:{slot}")
                question = self._bank.get(question_id)
                assert question is not None
                post = Post(
                    channel_id=channel_id,
                    day=day,
                    slot=slot,
                    question_id=question_id,
                    question_version=question.version,
                    status="claimed",
                    claimed_until=now + CLAIM_TTL,
                )
                session.add(post)
                await session.flush()
                return post.id, channel, question_id
        except IntegrityError:
            return None  # another scheduler claimed this (channel, day, slot) first

    async def _next_question(self, session: AsyncSession, channel: Channel, seed: str) -> str:
        history = list(
            (await session.execute(select(Post.question_id).where(Post.channel_id == channel.id).order_by(Post.id))).scalars()
        )
        candidates = [q.id for q in self._bank.all() if not channel.topics or q.category.value in channel.topics]
        return choose_question(candidates or self._bank.ids(), history, seed)

    async def close_due(self) -> int:
        now = self._clock.now()
        async with self._sessions() as session:
            due = (await session.execute(select(Post.id).where(Post.status == "open", Post.closes_at <= now))).scalars().all()
        closed = 0
        for post_id in due:
            closed += await self.close(post_id)
        return closed

    async def close_open(self, channel_id: int) -> int:
        async with self._sessions() as session:
            ids = (
                (await session.execute(select(Post.id).where(Post.channel_id == channel_id, Post.status == "open")))
                .scalars()
                .all()
            )
        return sum([await self.close(i) for i in ids])

    async def close(self, post_id: int) -> bool:
        """Close the post and reveal in its thread; exactly once, whoever calls."""
        now = self._clock.now()
        async with transaction(self._sessions) as session:
            result = await session.execute(
                update(Post).where(Post.id == post_id, Post.status == "open").values(status="closed", revealed_at=now)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return False
        async with self._sessions() as session:
            post = await session.get(Post, post_id)
            assert post is not None
            channel = await session.get(Channel, post.channel_id)
            assert channel is not None
            summary = await self.summary(session, post)
        question = self._bank.get(post.question_id)
        if question is not None:
            await self._chat.reply(thread_of(channel, post), reveal_message(question, summary))
        return True

    async def summary(self, session: AsyncSession, post: Post) -> RevealSummary:
        rows = (
            await session.execute(
                select(Answer, GradeRow, Member)
                .join(Member, Member.id == Answer.member_id)
                .outerjoin(GradeRow, (GradeRow.answer_id == Answer.id) & GradeRow.current.is_(True))
                .where(Answer.post_id == post.id, Answer.status != "deleted")
            )
        ).all()
        graded = [(m.display_name or m.user_ref, g) for a, g, m in rows if g is not None]
        scores = [g.score for _, g in graded]
        missed: Counter[str] = Counter()
        for _, g in graded:
            missed.update(c["criterion_id"] for c in g.criteria if c["verdict"] == "missed")
        question = self._bank.get(post.question_id)
        most_missed = None
        if missed and question is not None:
            criterion = question.criterion(missed.most_common(1)[0][0])
            most_missed = criterion.description.rstrip(".") if criterion else None
        top = sorted(((name, g.score) for name, g in graded), key=lambda x: -x[1])[:3]
        return RevealSummary(
            answers=len(rows),
            graded=len(graded),
            average=sum(scores) / len(scores) if scores else None,
            top=top,
            most_missed=most_missed,
        )

    async def open_post(self, channel_id: int) -> Post | None:
        async with self._sessions() as session:
            return (
                await session.execute(
                    select(Post).where(Post.channel_id == channel_id, Post.status == "open").order_by(Post.id.desc()).limit(1)
                )
            ).scalar_one_or_none()
