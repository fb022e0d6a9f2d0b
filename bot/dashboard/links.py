"""Signed, expiring dashboard links, scoped to a workspace (and optionally one channel).

A token is `v1.<payload>.<signature>` (base32): the payload names the platform, workspace, channel (empty
for the whole workspace), expiry and the workspace's revocation generation; the signature is
HMAC-SHA256 over it. Bumping the generation (`dashboard revoke`) invalidates every link of that
workspace at once, so nothing per link is stored.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from storage.db import transaction
from storage.models import BotSecret, DashboardAccess

SECRET_NAME = "dashboard-signing-key"
PREFIX = "v1"
MAX_TOKEN_CHARS = 1000  # far above a real token; longer input is refused before any decoding
_CONTEXT = b"repbot-dashboard-link\x00"  # domain separation: this key signs nothing else


@dataclass(frozen=True, slots=True)
class Scope:
    platform: str
    workspace: str
    channel: str | None = None  # a channel ref; None = the whole workspace

    @property
    def is_workspace(self) -> bool:
        return self.channel is None


@dataclass(frozen=True, slots=True)
class Grant:
    """What a valid link allows: reading this scope until `expires`."""

    scope: Scope
    expires: dt.datetime


def _b32(data: bytes) -> str:
    # Base32, lower case, no padding: letters and digits only, so no chat renderer's markup
    # escaping (Slack turns `_` into a look-alike) can change a link on its way to the admin.
    return base64.b32encode(data).decode().rstrip("=").lower()


def _unb32(text: str) -> bytes:
    return base64.b32decode(text.upper() + "=" * (-len(text) % 8))


class DashboardLinks:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        lifetime: dt.timedelta,
        configured_secret: str | None = None,
    ):
        self._sessions = sessions
        self._clock = clock
        self.lifetime = lifetime
        self._key: bytes | None = configured_secret.encode() if configured_secret else None

    async def _secret(self) -> bytes:
        """The configured key, else the one kept in the database (made once, by whichever replica is first)."""
        if self._key is None:
            async with transaction(self._sessions) as session:
                row = await session.get(BotSecret, SECRET_NAME)
                if row is None:
                    try:
                        async with session.begin_nested():
                            row = BotSecret(name=SECRET_NAME, value=secrets.token_urlsafe(48), created_at=self._clock.now())
                            session.add(row)
                    except IntegrityError:  # another replica made it first: use theirs
                        row = await session.get(BotSecret, SECRET_NAME, populate_existing=True)
                assert row is not None
                self._key = row.value.encode()
        return self._key

    async def _generation(self, session: AsyncSession, platform: str, workspace: str) -> int:
        row = await session.get(DashboardAccess, (platform, workspace))
        return row.generation if row is not None else 0

    def _sign(self, key: bytes, payload: bytes) -> bytes:
        return hmac.new(key, _CONTEXT + payload, hashlib.sha256).digest()

    async def issue(self, scope: Scope) -> tuple[str, dt.datetime]:
        """A token for `scope` and when it expires."""
        key = await self._secret()
        async with self._sessions() as session:
            generation = await self._generation(session, scope.platform, scope.workspace)
        expires = self._clock.now() + self.lifetime
        payload = json.dumps(
            [scope.platform, scope.workspace, scope.channel or "", int(expires.timestamp()), generation],
            separators=(",", ":"),
        ).encode()
        return f"{PREFIX}.{_b32(payload)}.{_b32(self._sign(key, payload))}", expires

    async def check(self, token: str) -> Grant | None:
        """The grant a token carries, or None when it is forged, expired, revoked or malformed."""
        if len(token) > MAX_TOKEN_CHARS:
            return None
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != PREFIX:
            return None
        try:
            payload, signature = _unb32(parts[1]), _unb32(parts[2])
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(self._sign(await self._secret(), payload), signature):
            return None
        # Signed by us, so the shape is ours; still parsed defensively.
        try:
            platform, workspace, channel, expires_at, generation = json.loads(payload)
            expires = dt.datetime.fromtimestamp(int(expires_at), dt.UTC)
        except (ValueError, TypeError):
            return None
        if expires <= self._clock.now():
            return None
        async with self._sessions() as session:
            if await self._generation(session, str(platform), str(workspace)) != generation:
                return None
        return Grant(Scope(str(platform), str(workspace), str(channel) or None), expires)

    async def revoke(self, platform: str, workspace: str) -> None:
        """Invalidate every link of the workspace made so far."""
        now = self._clock.now()
        async with transaction(self._sessions) as session:
            bumped = await session.execute(
                update(DashboardAccess)
                .where(DashboardAccess.platform == platform, DashboardAccess.workspace == workspace)
                .values(generation=DashboardAccess.generation + 1, revoked_at=now)
            )
            if bumped.rowcount == 0:  # type: ignore[attr-defined]
                try:
                    async with session.begin_nested():
                        session.add(DashboardAccess(platform=platform, workspace=workspace, generation=1, revoked_at=now))
                except IntegrityError:  # a concurrent revoke created it: bump that row
                    await session.execute(
                        update(DashboardAccess)
                        .where(DashboardAccess.platform == platform, DashboardAccess.workspace == workspace)
                        .values(generation=DashboardAccess.generation + 1, revoked_at=now)
                    )

    async def generation(self, platform: str, workspace: str) -> int:
        async with self._sessions() as session:
            return await self._generation(session, platform, workspace)
