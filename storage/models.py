"""SQLAlchemy 2 models. Unique keys carry the exactly-once guarantees:

- posts (channel_id, day, slot): one daily post per channel and local day, whoever fires;
- answer_messages.source_id: a platform message is stored once, however often it is delivered;
- answers.context: one counted answer per person per post (or per interview turn);
- grades (answer_id, revision): each version of an answer is graded once;
- score_events.key: each points change is written once;
- inbox_messages.source_id: an answer not yet filed is held once, however often it arrives.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


Id = BigInteger().with_variant(Integer, "sqlite")


class Channel(Base):
    __tablename__ = "channels"
    __table_args__ = (UniqueConstraint("platform", "workspace", "channel_ref", name="uq_channels_place"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(20))
    workspace: Mapped[str] = mapped_column(String(64))
    channel_ref: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    timezone: Mapped[str] = mapped_column(String(64))
    post_time: Mapped[str] = mapped_column(String(5))  # HH:MM local
    weekdays: Mapped[str] = mapped_column(String(40))  # "mon,tue,wed"
    holiday_country: Mapped[str | None] = mapped_column(String(10), nullable=True)
    holiday_subdivision: Mapped[str | None] = mapped_column(String(10), nullable=True)
    window_hours: Mapped[float] = mapped_column(Float)
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    feedback_public: Mapped[bool] = mapped_column(Boolean, default=False)
    report_details: Mapped[bool] = mapped_column(Boolean, default=True)
    reminder_hours: Mapped[float | None] = mapped_column(Float, nullable=True)  # before close; None = off
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    skip_days: Mapped[list[str]] = mapped_column(JSON, default=list)  # ISO dates
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, server_default=func.now())


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("platform", "workspace", "user_ref", name="uq_members_person"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(20))
    workspace: Mapped[str] = mapped_column(String(64))
    user_ref: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    reminders: Mapped[bool] = mapped_column(Boolean, default=True)


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (
        UniqueConstraint("channel_id", "day", "slot", name="uq_posts_channel_day_slot"),
        Index("ix_posts_status_closes", "status", "closes_at"),
        Index("ix_posts_thread", "channel_id", "thread_ref"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    day: Mapped[dt.date] = mapped_column(Date)  # the channel's local day
    slot: Mapped[int] = mapped_column(Integer, default=0)  # 0 = the scheduled post; >0 = extra
    question_id: Mapped[str] = mapped_column(String(100))
    question_version: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12))  # claimed | open | closed
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    message_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    thread_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    posted_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    closes_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revealed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class Answer(Base):
    """One counted answer: a person's merged messages for one post or interview turn."""

    __tablename__ = "answers"
    __table_args__ = (
        Index("ix_answers_queue", "status", "available_at"),
        Index("ix_answers_post", "post_id"),
        # Feedback still to deliver is a handful of rows among all answers: the retry loop's look.
        Index(
            "ix_answers_notify_due",
            "notify_after",
            sqlite_where=text("notify_pending = 1"),
            postgresql_where=text("notify_pending"),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    context: Mapped[str] = mapped_column(String(100), unique=True)  # "post:12:7" / "interview:3:2"
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), nullable=True)
    interview_id: Mapped[int | None] = mapped_column(ForeignKey("interviews.id", ondelete="CASCADE"), nullable=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    question_id: Mapped[str] = mapped_column(String(100))
    question_version: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(10))  # pending | grading | graded | deleted | closed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    available_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    reply_place: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # where feedback goes
    points_awarded: Mapped[int] = mapped_column(Integer, default=0)
    counted: Mapped[bool] = mapped_column(Boolean, default=False)  # counts in answer totals
    notify_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    # Feedback delivery's claim (bot/feedback.py): who is sending it, and until when nobody else
    # may try (the claim's lease, or the backoff after a failed send).
    notify_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    notify_after: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    notify_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    delay_notified: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class AnswerMessage(Base):
    """One platform message that is part of an answer; `source_id` makes delivery idempotent."""

    __tablename__ = "answer_messages"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    source_id: Mapped[str] = mapped_column(String(200), unique=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("answers.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class GradeRow(Base):
    __tablename__ = "grades"
    __table_args__ = (UniqueConstraint("answer_id", "revision", "attempt_key", name="uq_grades_answer_revision"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("answers.id", ondelete="CASCADE"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    attempt_key: Mapped[str] = mapped_column(String(40), default="auto")  # "auto" or "manual:<n>" / "regrade:<n>"
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    score: Mapped[float] = mapped_column(Float)
    criteria: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    feedback: Mapped[str] = mapped_column(Text)
    grader: Mapped[str] = mapped_column(String(40))
    model: Mapped[str | None] = mapped_column(String(100), nullable=True)
    prompt_version: Mapped[str | None] = mapped_column(String(40), nullable=True)
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    set_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ScoreEvent(Base):
    """An immutable points delta. Leaderboards sum these; `key` makes each write once-only."""

    __tablename__ = "score_events"
    __table_args__ = (Index("ix_score_events_channel_day_member", "channel_id", "day", "member_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    answer_id: Mapped[int | None] = mapped_column(ForeignKey("answers.id", ondelete="SET NULL"), nullable=True)
    day: Mapped[dt.date] = mapped_column(Date)
    points: Mapped[int] = mapped_column(Integer)
    answers: Mapped[int] = mapped_column(Integer, default=0)  # +1 / -1 counted answers
    reason: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class MemberTotal(Base):
    """All-time totals per channel and member, kept in step with score_events."""

    __tablename__ = "member_totals"
    __table_args__ = (Index("ix_member_totals_rank", "channel_id", "points"),)

    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    points: Mapped[int] = mapped_column(Integer, default=0)
    answers: Mapped[int] = mapped_column(Integer, default=0)


class Interview(Base):
    __tablename__ = "interviews"
    __table_args__ = (
        Index("ix_interviews_member_status", "member_id", "status"),
        # One open (active or paused) interview per person, whichever replica starts it.
        Index(
            "uq_interviews_one_open",
            "member_id",
            unique=True,
            sqlite_where=text("status != 'finished'"),
            postgresql_where=text("status != 'finished'"),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    format: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(12))  # active | paused | finished
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ReviewItem(Base):
    """A question in a person's spaced-repetition queue (bot/interview/review.py)."""

    __tablename__ = "review_items"
    __table_args__ = (
        UniqueConstraint("member_id", "question_id", name="uq_review_items_member_question"),
        Index("ix_review_items_member_due", "member_id", "due_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    question_id: Mapped[str] = mapped_column(String(100))
    easiness: Mapped[float] = mapped_column(Float)
    repetitions: Mapped[int] = mapped_column(Integer)
    interval_days: Mapped[float] = mapped_column(Float)
    due_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_score: Mapped[float] = mapped_column(Float)
    reviews: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Announcement(Base):
    """Something said once per channel and period (weekly recap, a streak reminder)."""

    __tablename__ = "announcements"
    __table_args__ = (UniqueConstraint("channel_id", "kind", "period", name="uq_announcements_once"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # recap | reminder
    period: Mapped[str] = mapped_column(String(60))  # "2026-W10" / "post:12:member:7"
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ProcessedEvent(Base):
    """Platform event ids already handled (Slack event_id, Discord interaction id)."""

    __tablename__ = "processed_events"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class InboxMessage(Base):
    """An answer exactly as received, written in one INSERT before the platform gets its ack.

    The intake turns it into an answer moments later (bot/inbox.py) and deletes it in the same
    transaction, so a row here is an accepted answer not yet filed; a restart finds and files it.
    """

    __tablename__ = "inbox_messages"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    source_id: Mapped[str] = mapped_column(String(200), unique=True)
    payload: Mapped[str] = mapped_column(Text)  # the neutral AnswerPosted event as JSON
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)  # later after a failed attempt


class DashboardAccess(Base):
    """Per-workspace generation of dashboard links: a link signs the generation it was made in,
    so bumping it (`dashboard revoke`) invalidates every link of that workspace at once."""

    __tablename__ = "dashboard_access"

    platform: Mapped[str] = mapped_column(String(20), primary_key=True)
    workspace: Mapped[str] = mapped_column(String(64), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class BotSecret(Base):
    """Secrets the bot made itself (the dashboard signing key when none is configured), kept in
    the database so links survive restarts and every replica signs with the same key."""

    __tablename__ = "bot_secrets"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
