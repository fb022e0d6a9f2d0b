"""Database reads and writes of the interview service: small functions over one session."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.events import Person
from bot.interview.followups import SEPARATOR
from bot.interview.review import ReviewCard, schedule
from storage.models import Answer, Interview, Member, ReviewItem

OPEN = ("active", "paused")


async def find_member(session: AsyncSession, person: Person) -> Member | None:
    query = select(Member).where(
        Member.platform == person.platform, Member.workspace == person.workspace, Member.user_ref == person.user_id
    )
    return (await session.execute(query)).scalar_one_or_none()


async def open_interview(session: AsyncSession, member_id: int, *, lock: bool = True) -> Interview | None:
    query = select(Interview).where(Interview.member_id == member_id, Interview.status.in_(OPEN))
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def open_interview_of(session: AsyncSession, person: Person, *, lock: bool = True) -> tuple[Interview, Member] | None:
    """The person's open interview under any workspace of the platform (latest first). A Discord
    DM has no guild, so `/repbot interview` in a server and the DMs that answer it reach the bot
    as two workspaces of one user id."""
    query = (
        select(Interview, Member)
        .join(Member, Member.id == Interview.member_id)
        .where(Member.platform == person.platform, Member.user_ref == person.user_id, Interview.status.in_(OPEN))
        .order_by(Interview.updated_at.desc())
        .limit(1)
    )
    row = (await session.execute(query)).first()
    if row is None or not lock:
        return None if row is None else (row[0], row[1])
    interview = await locked_interview(session, row[0].id)
    return (interview, row[1]) if interview is not None else None


async def locked_interview(session: AsyncSession, interview_id: int) -> Interview | None:
    return (await session.execute(select(Interview).where(Interview.id == interview_id).with_for_update())).scalar_one_or_none()


async def seen_since(session: AsyncSession, member_id: int, since: dt.datetime) -> set[str]:
    """Questions the person answered (daily or interview) or was asked in an interview lately."""
    answered = (
        await session.execute(select(Answer.question_id).where(Answer.member_id == member_id, Answer.received_at >= since))
    ).scalars()
    seen = {qid.split(SEPARATOR, 1)[0] for qid in answered}
    states = (
        await session.execute(select(Interview.state).where(Interview.member_id == member_id, Interview.started_at >= since))
    ).scalars()
    for state in states:
        seen.update(s["question_id"] for s in (state or {}).get("slots", []) if s.get("status") != "waiting")
    return seen


async def review_queue(session: AsyncSession, member_id: int, now: dt.datetime) -> tuple[list[str], list[str]]:
    """(due question ids, not-yet-due ids), each soonest first."""
    rows = (
        await session.execute(
            select(ReviewItem.question_id, ReviewItem.due_at).where(ReviewItem.member_id == member_id).order_by(ReviewItem.due_at)
        )
    ).all()
    return [q for q, due in rows if due <= now], [q for q, due in rows if due > now]


async def reviews_due(session: AsyncSession, member_id: int, now: dt.datetime) -> int:
    query = select(func.count()).select_from(ReviewItem).where(ReviewItem.member_id == member_id, ReviewItem.due_at <= now)
    return int((await session.execute(query)).scalar_one())


async def next_review(session: AsyncSession, member_id: int) -> dt.datetime | None:
    query = select(func.min(ReviewItem.due_at)).where(ReviewItem.member_id == member_id)
    when = (await session.execute(query)).scalar_one_or_none()
    if when is not None and when.tzinfo is None:  # aggregates bypass the column type on SQLite
        when = when.replace(tzinfo=dt.UTC)
    return when


async def apply_reviews(session: AsyncSession, member_id: int, scores: Iterable[tuple[str, float]], now: dt.datetime) -> None:
    """Move each scored question through the review schedule (enter below 6, else reschedule)."""
    for question_id, score in scores:
        item = (
            await session.execute(
                select(ReviewItem)
                .where(ReviewItem.member_id == member_id, ReviewItem.question_id == question_id)
                .with_for_update()
            )
        ).scalar_one_or_none()
        card = None
        if item is not None:
            card = ReviewCard(item.easiness, item.repetitions, item.interval_days, item.due_at, item.last_score, item.reviews)
        updated = schedule(card, score, now)
        if updated is None:
            continue
        if item is None:
            item = ReviewItem(member_id=member_id, question_id=question_id)
            session.add(item)
        item.easiness = updated.easiness
        item.repetitions = updated.repetitions
        item.interval_days = updated.interval_days
        item.due_at = updated.due_at
        item.last_score = updated.last_score
        item.reviews = updated.reviews
        item.updated_at = now


async def earlier_averages(session: AsyncSession, member_id: int, exclude_id: int) -> list[float]:
    rows = (
        await session.execute(
            select(Interview.state)
            .where(Interview.member_id == member_id, Interview.status == "finished", Interview.id != exclude_id)
            .order_by(Interview.started_at, Interview.id)
        )
    ).scalars()
    averages = []
    for state in rows:
        average = ((state or {}).get("summary") or {}).get("average")
        if average is not None:
            averages.append(float(average))
    return averages


def close_answer(answer: Answer, now: dt.datetime) -> None:
    """Take an ungraded answer out of the queue; a grade in flight is discarded by the revision bump."""
    if answer.status in ("closed", "deleted"):
        return
    answer.status = "closed"
    answer.revision += 1
    answer.lease_token = None
    answer.lease_until = None
    answer.notify_pending = False
    answer.updated_at = now


@dataclass(frozen=True, slots=True)
class Counts:
    active: int
    finished: int
    answers: int


async def workspace_counts(session: AsyncSession, platform: str, workspace: str) -> Counts:
    in_workspace = select(Member.id).where(Member.platform == platform, Member.workspace == workspace)
    by_status = dict(
        (
            await session.execute(
                select(Interview.status, func.count()).where(Interview.member_id.in_(in_workspace)).group_by(Interview.status)
            )
        ).all()
    )
    answers = (
        await session.execute(
            select(func.count())
            .select_from(Answer)
            .where(Answer.interview_id.is_not(None), Answer.status == "graded", Answer.member_id.in_(in_workspace))
        )
    ).scalar_one()
    return Counts(
        active=int(by_status.get("active", 0)) + int(by_status.get("paused", 0)),
        finished=int(by_status.get("finished", 0)),
        answers=int(answers),
    )
