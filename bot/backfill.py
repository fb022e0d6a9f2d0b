"""Where answers may have been missed while a platform connection was down: the threads of
questions still open. Adapters read those threads' history after a reconnect the platform did
not replay, and pass each message down the live path (its message id makes it count once)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.events import MessageRef, Place
from storage.models import Channel, Post


async def open_question_threads(sessions: async_sessionmaker[AsyncSession], platform: str) -> list[MessageRef]:
    """The thread of every open question on `platform` (oldest first)."""
    async with sessions() as session:
        rows = (
            await session.execute(
                select(Channel.workspace, Channel.channel_ref, Post.message_ref, Post.thread_ref)
                .join(Channel, Channel.id == Post.channel_id)
                .where(Post.status == "open", Channel.platform == platform, Post.thread_ref.is_not(None))
                .order_by(Post.id)
            )
        ).all()
    return [MessageRef(Place(platform, w, c), m or t, t) for w, c, m, t in rows]
