"""The installation cache in front of slack-sdk's SQL store (real store, SQLite file): hits skip
the database, entries expire, this process's deletes and saves drop them, misses are not kept."""

from __future__ import annotations

import time

from slack_sdk.oauth.installation_store import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore

from adapters.slack.installs import CachedInstallations
from storage.db import make_engine


def installation(token: str) -> Installation:
    return Installation(
        app_id="A1",
        enterprise_id=None,
        team_id="T2",
        bot_token=token,
        bot_id="B2",
        bot_user_id="UBOT2",
        user_id="U9",
        installed_at=time.time(),
    )


async def test_cached_installations_expire_and_follow_this_processes_changes(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    store = AsyncSQLAlchemyInstallationStore(client_id="111.222", engine=engine)
    await store.create_tables()
    now = [1000.0]
    cached = CachedInstallations(store, ttl=60, now=lambda: now[0])
    reads: list[str] = []
    find = store.async_find_installation

    async def counting(**kwargs):  # type: ignore[no-untyped-def]
        reads.append(kwargs["team_id"])
        return await find(**kwargs)

    store.async_find_installation = counting  # type: ignore[method-assign]
    try:
        assert await cached.async_find_installation(enterprise_id=None, team_id="T2") is None
        assert await cached.async_find_installation(enterprise_id=None, team_id="T2") is None
        assert len(reads) == 2  # a miss is not remembered: an install elsewhere counts at once

        await store.async_save(installation("xoxb-one"))  # e.g. another replica installs
        found = await cached.async_find_installation(enterprise_id=None, team_id="T2")
        assert found is not None and found.bot_token == "xoxb-one"
        await cached.async_find_installation(enterprise_id=None, team_id="T2")
        assert len(reads) == 3  # the second read came from memory

        await store.async_save(installation("xoxb-two"))  # reinstalled on another replica
        assert (await cached.async_find_installation(enterprise_id=None, team_id="T2")).bot_token == "xoxb-one"  # type: ignore[union-attr]
        now[0] += 61  # ... seen once the entry expires
        assert (await cached.async_find_installation(enterprise_id=None, team_id="T2")).bot_token == "xoxb-two"  # type: ignore[union-attr]

        await cached.async_delete_all(enterprise_id=None, team_id="T2")  # uninstalled here: gone at once
        assert await cached.async_find_installation(enterprise_id=None, team_id="T2") is None
        assert await cached.async_find_bot(enterprise_id=None, team_id="T2") is None
    finally:
        await engine.dispose()
