"""Who someone is on Slack: display name and admin status (users.info, user groups), cached.

Lookups never block an answer for long: a failed or slow users.info yields an unnamed person
(the core stores the id and fills the name in on a later message).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.tokens import TokenSource

log = logging.getLogger(__name__)

LOOKUP_TIMEOUT = 1.5  # seconds; Slack wants events acknowledged within 3
FAILED_LOOKUP_TTL = 60.0
# What a lookup can fail with: Slack said no, too slow, no token for the team, or the connection
# broke (aiohttp.ClientError, e.g. ServerDisconnectedError, is not an OSError).
_LOOKUP_ERRORS = (SlackApiError, TimeoutError, LookupError, OSError, aiohttp.ClientError)


@dataclass(frozen=True, slots=True)
class SlackUser:
    id: str
    name: str = ""
    is_admin: bool = False  # workspace admin or owner


@dataclass(frozen=True, slots=True)
class AdminList:
    """`REPBOT_ADMINS` entries that concern Slack: user ids and user group ids (S…)."""

    users: frozenset[str]
    groups: frozenset[str]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AdminList:
        users: set[str] = set()
        groups: set[str] = set()
        for entry in entries:
            platform, sep, ident = entry.strip().partition(":")
            if not sep:
                ident = platform
            elif platform.lower() != "slack":
                continue  # another platform's admin
            ident = ident.strip()
            if not ident:
                continue
            (groups if ident.startswith("S") else users).add(ident)
        return cls(frozenset(users), frozenset(groups))


class People:
    def __init__(
        self,
        client: AsyncWebClient,
        tokens: TokenSource,
        admins: AdminList,
        *,
        ttl: float = 600.0,
        now: Callable[[], float] = time.monotonic,
    ):
        self._client = client
        self._tokens = tokens
        self._admins = admins
        self._ttl = ttl
        self._now = now
        self._users: dict[tuple[str, str], tuple[float, SlackUser]] = {}
        self._groups: dict[tuple[str, str], tuple[float, frozenset[str]]] = {}

    def cached(self, team: str, user_id: str) -> SlackUser | None:
        hit = self._users.get((team, user_id))
        return hit[1] if hit is not None and hit[0] > self._now() else None

    async def user(self, team: str, user_id: str) -> SlackUser:
        found = self.cached(team, user_id)
        if found is not None:
            return found
        try:
            token = await self._tokens.bot_token(team)
            response = await asyncio.wait_for(self._client.users_info(user=user_id, token=token), LOOKUP_TIMEOUT)
        except _LOOKUP_ERRORS as exc:
            log.warning("users.info for %s failed: %s", user_id, type(exc).__name__)
            # Remember the miss briefly, so a broken users.info (e.g. no users:read) does not
            # delay every answer's acknowledgement by another lookup.
            unknown = SlackUser(user_id)
            self._users[(team, user_id)] = (self._now() + FAILED_LOOKUP_TTL, unknown)
            return unknown
        data = response.get("user") or {}
        profile = data.get("profile") or {}
        name = profile.get("display_name") or profile.get("real_name") or data.get("real_name") or data.get("name") or ""
        user = SlackUser(
            user_id,
            str(name),
            bool(data.get("is_admin") or data.get("is_owner") or data.get("is_primary_owner")),
        )
        self._users[(team, user_id)] = (self._now() + self._ttl, user)
        return user

    async def name(self, team: str, user_id: str) -> str:
        return (await self.user(team, user_id)).name

    async def is_admin(self, team: str, user_id: str) -> bool:
        """Listed in REPBOT_ADMINS, a workspace admin/owner, or in a listed user group."""
        if user_id in self._admins.users:
            return True
        if (await self.user(team, user_id)).is_admin:
            return True
        for group in sorted(self._admins.groups):
            if user_id in await self._group_members(team, group):
                return True
        return False

    async def _group_members(self, team: str, group: str) -> frozenset[str]:
        hit = self._groups.get((team, group))
        if hit is not None and hit[0] > self._now():
            return hit[1]
        try:
            token = await self._tokens.bot_token(team)
            response = await asyncio.wait_for(self._client.usergroups_users_list(usergroup=group, token=token), LOOKUP_TIMEOUT)
        except _LOOKUP_ERRORS as exc:
            # Deny rather than guess; not cached so the next command tries again.
            log.warning("usergroups.users.list for %s failed: %s", group, type(exc).__name__)
            return frozenset()
        members = frozenset(str(u) for u in response.get("users") or [])
        self._groups[(team, group)] = (self._now() + self._ttl, members)
        return members
