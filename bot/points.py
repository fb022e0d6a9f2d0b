"""Writing points: immutable score events plus incrementally kept all-time totals.

Called inside the transaction that stores a grade (or deletes an answer), so points can never
disagree with grades. Each change carries a unique key: replays write nothing twice.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Answer, MemberTotal, Post, ScoreEvent


async def set_answer_points(
    session: AsyncSession, answer: Answer, post: Post, *, points: int, counted: bool, reason: str, key: str, now: dt.datetime
) -> int:
    """Move the answer's points to `points`; returns the delta written (0 when unchanged)."""
    delta = points - answer.points_awarded
    answers_delta = int(counted) - int(answer.counted)
    if delta == 0 and answers_delta == 0:
        return 0
    session.add(
        ScoreEvent(
            key=key,
            channel_id=post.channel_id,
            member_id=answer.member_id,
            answer_id=answer.id,
            day=post.day,
            points=delta,
            answers=answers_delta,
            reason=reason,
            created_at=now,
        )
    )
    await _add_to_total(session, post.channel_id, answer.member_id, delta, answers_delta)
    answer.points_awarded = points
    answer.counted = counted
    return delta


async def _add_to_total(session: AsyncSession, channel_id: int, member_id: int, points: int, answers: int) -> None:
    query = select(MemberTotal).where(MemberTotal.channel_id == channel_id, MemberTotal.member_id == member_id).with_for_update()
    total = (await session.execute(query)).scalar_one_or_none()
    if total is None:
        try:
            async with session.begin_nested():
                session.add(MemberTotal(channel_id=channel_id, member_id=member_id, points=points, answers=answers))
            return
        except IntegrityError:
            total = (await session.execute(query)).scalar_one()
    total.points += points
    total.answers += answers
