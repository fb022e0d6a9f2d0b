"""Small repository functions shared by the services: find-or-create rows safely under races."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from storage.models import Base, Channel, Member, ProcessedEvent

T = TypeVar("T", bound=Base)


async def _get_or_create(session: AsyncSession, query: Select[tuple[T]], build: Callable[[], T]) -> T:
    """Select, else insert inside a savepoint; if another writer won the race, select again."""
    found = (await session.execute(query)).scalar_one_or_none()
    if found is not None:
        return found
    try:
        async with session.begin_nested():
            row = build()
            session.add(row)
        return row
    except IntegrityError:
        return (await session.execute(query)).scalar_one()


async def get_or_create_member(session: AsyncSession, platform: str, workspace: str, user_ref: str, display_name: str) -> Member:
    query = select(Member).where(Member.platform == platform, Member.workspace == workspace, Member.user_ref == user_ref)
    member = await _get_or_create(
        session, query, lambda: Member(platform=platform, workspace=workspace, user_ref=user_ref, display_name=display_name)
    )
    if display_name and member.display_name != display_name:
        member.display_name = display_name
    return member


async def get_or_create_channel(
    session: AsyncSession, platform: str, workspace: str, channel_ref: str, build: Callable[[], Channel]
) -> Channel:
    query = select(Channel).where(
        Channel.platform == platform, Channel.workspace == workspace, Channel.channel_ref == channel_ref
    )
    return await _get_or_create(session, query, build)


async def first_time_seen(session: AsyncSession, key: str, now: dt.datetime) -> bool:
    """Record a platform event id; False when it was already processed (a retry or replay)."""
    try:
        async with session.begin_nested():
            session.add(ProcessedEvent(key=key, seen_at=now))
        return True
    except IntegrityError:
        return False
