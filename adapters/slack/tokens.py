"""Which bot token speaks for a workspace: one configured token, or one per OAuth installation."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore


class NotInstalled(LookupError):
    """RepBot has no installation (bot token) for this workspace."""


class TokenSource(Protocol):
    async def bot_token(self, team: str) -> str: ...


class SingleToken:
    """Single-workspace mode: SLACK_BOT_TOKEN serves every call."""

    def __init__(self, token: str):
        self._token = token

    def __repr__(self) -> str:  # never show the token
        return "SingleToken(****)"

    async def bot_token(self, team: str) -> str:
        return self._token


class InstalledTokens:
    """Multi-workspace mode: the bot token saved by the OAuth install for `team`, cached briefly."""

    def __init__(self, store: AsyncInstallationStore, ttl: float = 60.0, now: Callable[[], float] = time.monotonic):
        self._store = store
        self._ttl = ttl
        self._now = now
        self._cache: dict[str, tuple[float, str]] = {}

    def __repr__(self) -> str:
        return "InstalledTokens(****)"

    async def bot_token(self, team: str) -> str:
        hit = self._cache.get(team)
        if hit is not None and hit[0] > self._now():
            return hit[1]
        bot = await self._store.async_find_bot(enterprise_id=None, team_id=team)
        if bot is None or not bot.bot_token:
            raise NotInstalled(f"RepBot is not installed in Slack workspace {team}; install it at /slack/install")
        self._cache[team] = (self._now() + self._ttl, bot.bot_token)
        return bot.bot_token
