"""Reads over a channel's history that streaks and reports need."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Answer, Post


async def daily_post_days(session: AsyncSession, channel_id: int, until: dt.date | None = None) -> list[dt.date]:
    query = select(Post.day).where(Post.channel_id == channel_id, Post.slot == 0, Post.status != "claimed")
    if until is not None:
        query = query.where(Post.day <= until)
    return list((await session.execute(query.order_by(Post.day))).scalars())


async def answered_days(session: AsyncSession, channel_id: int, member_id: int) -> set[dt.date]:
    """Days of daily posts this member answered in time (deleted answers do not count)."""
    rows = await session.execute(
        select(Post.day)
        .join(Answer, Answer.post_id == Post.id)
        .where(
            Post.channel_id == channel_id,
            Post.slot == 0,
            Answer.member_id == member_id,
            Answer.late.is_(False),
            Answer.status != "deleted",
        )
    )
    return set(rows.scalars())


async def answered_days_by_member(session: AsyncSession, channel_id: int) -> dict[int, set[dt.date]]:
    rows = await session.execute(
        select(Answer.member_id, Post.day)
        .join(Post, Answer.post_id == Post.id)
        .where(Post.channel_id == channel_id, Post.slot == 0, Answer.late.is_(False), Answer.status != "deleted")
    )
    out: dict[int, set[dt.date]] = {}
    for member_id, day in rows.all():
        out.setdefault(member_id, set()).add(day)
    return out


async def open_daily_day(session: AsyncSession, channel_id: int) -> dt.date | None:
    return (
        await session.execute(
            select(Post.day)
            .where(Post.channel_id == channel_id, Post.slot == 0, Post.status == "open")
            .order_by(Post.day.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
