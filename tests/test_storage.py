"""Storage on both backends: migrations match the models, datetimes stay UTC, unique keys hold."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import IntegrityError

from storage.db import current_revision, head_revision, make_engine, make_sessionmaker
from storage.models import Base, Channel, Post


async def test_migrations_produce_exactly_the_models(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata))
        assert diff == []
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


def a_channel() -> Channel:
    return Channel(
        platform="t",
        workspace="w",
        channel_ref="c",
        timezone="UTC",
        post_time="09:00",
        weekdays="mon",
        window_hours=8,
        topics=[],
        skip_days=[],
    )


async def test_datetimes_round_trip_as_utc(db_url: str) -> None:
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    berlin_evening = dt.datetime(2026, 3, 29, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    try:
        async with sessions() as session, session.begin():
            channel = a_channel()
            session.add(channel)
            await session.flush()
            session.add(
                Post(
                    channel_id=channel.id,
                    day=dt.date(2026, 3, 29),
                    slot=0,
                    question_id="q",
                    question_version="v",
                    status="open",
                    closes_at=berlin_evening,
                )
            )
        async with sessions() as session:
            post = (await session.execute(Post.__table__.select())).one()
        assert post.closes_at == berlin_evening and post.closes_at.utcoffset() == dt.timedelta(0)
    finally:
        await engine.dispose()


async def test_one_post_per_channel_day_and_slot(db_url: str) -> None:
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    try:
        async with sessions() as session, session.begin():
            channel = a_channel()
            session.add(channel)
        for slot, expect_error in ((0, False), (0, True), (1, False)):
            async with sessions() as session:
                session.add(
                    Post(
                        channel_id=channel.id,
                        day=dt.date(2026, 3, 2),
                        slot=slot,
                        question_id="q",
                        question_version="v",
                        status="open",
                    )
                )
                if expect_error:
                    with pytest.raises(IntegrityError):
                        await session.commit()
                else:
                    await session.commit()
    finally:
        await engine.dispose()
