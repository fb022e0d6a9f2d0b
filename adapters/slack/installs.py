"""The OAuth installation store as bolt reads it on every request: slack-sdk's SQL store behind a
short in-memory cache.

In multi-workspace mode bolt looks the workspace's installation up before each ack (then, for a
new bot token, auth.test: cached in the adapter's authorize). Without this cache that lookup is
one or two database queries on the ack path. Entries live `ttl` seconds, so a reinstall or an
uninstall handled by another replica is seen within that; this process's own saves and deletes
drop the workspace's entries at once. Misses are never cached: a fresh install counts at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from logging import Logger
from typing import Any

from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore

TTL_SECONDS = 60.0


class CachedInstallations(AsyncInstallationStore):
    def __init__(self, store: AsyncInstallationStore, ttl: float = TTL_SECONDS, now: Callable[[], float] = time.monotonic):
        self.store = store
        self._ttl = ttl
        self._now = now
        self._cache: dict[tuple[Any, ...], tuple[float, Bot | Installation]] = {}

    @property
    def logger(self) -> Logger:
        return self.store.logger

    def _get(self, key: tuple[Any, ...]) -> Bot | Installation | None:
        hit = self._cache.get(key)
        if hit is None or hit[0] <= self._now():
            self._cache.pop(key, None)
            return None
        return hit[1]

    def _forget(self, enterprise_id: str | None, team_id: str | None) -> None:
        for key in [k for k in self._cache if k[1:3] == (enterprise_id or "", team_id or "")]:
            del self._cache[key]

    async def async_save(self, installation: Installation) -> None:
        self._forget(installation.enterprise_id, installation.team_id)
        await self.store.async_save(installation)

    async def async_save_bot(self, bot: Bot) -> None:
        self._forget(bot.enterprise_id, bot.team_id)
        await self.store.async_save_bot(bot)

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        key = ("bot", enterprise_id or "", team_id or "", bool(is_enterprise_install))
        hit = self._get(key)
        if isinstance(hit, Bot):
            return hit
        bot = await self.store.async_find_bot(
            enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install
        )
        if bot is not None:
            self._cache[key] = (self._now() + self._ttl, bot)
        return bot

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        key = ("installation", enterprise_id or "", team_id or "", bool(is_enterprise_install), user_id or "")
        hit = self._get(key)
        if isinstance(hit, Installation):
            return hit
        found = await self.store.async_find_installation(
            enterprise_id=enterprise_id, team_id=team_id, user_id=user_id, is_enterprise_install=is_enterprise_install
        )
        if found is not None:
            self._cache[key] = (self._now() + self._ttl, found)
        return found

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        self._forget(enterprise_id, team_id)
        await self.store.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        self._forget(enterprise_id, team_id)
        await self.store.async_delete_installation(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id)
