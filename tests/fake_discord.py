"""A fake Discord: REST API + gateway on 127.0.0.1 for the real discord.py client.

It keeps just enough state (one guild with a text channel, threads, messages, DM channels,
users) to answer what RepBot calls, records every REST request, and drives the client through
the gateway: HELLO/IDENTIFY/READY/GUILD_CREATE, dispatching events, RESUME (optionally
replaying events the client already saw), and per-shard sessions for AutoShardedClient.

Traps it respects (found with the real library): JSON responses carry Content-Type exactly
`application/json`; a 429 needs a `Via` header or discord.py treats it as a Cloudflare ban;
members need `flags`; interactions need `attachment_size_limit`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

TIMESTAMP = "2026-03-02T08:00:00.000000+00:00"
MANAGE_GUILD = 1 << 5
MESSAGE_CONTENT = 1 << 15
EVERYONE_PERMISSIONS = 1 << 10 | 1 << 11 | 1 << 16 | 1 << 6  # view, send, read history, add reactions


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int
    at: float = field(default_factory=time.monotonic)
    files: list[str] = field(default_factory=list)
    auth: str | None = None


@dataclass
class GatewaySession:
    ws: web.WebSocketResponse
    shard: int
    shard_count: int
    session_id: str
    seq: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)  # dispatches (op 0) in order
    received: list[dict[str, Any]] = field(default_factory=list)


def _json(obj: Any, status: int = 200) -> web.Response:
    # discord.py parses JSON only when Content-Type is exactly "application/json" (no charset).
    return web.Response(body=json.dumps(obj).encode(), status=status, headers={"Content-Type": "application/json"})


class FakeDiscord:
    def __init__(self, *, shard_count: int = 1, app_flags: int = 0):
        self._ids = itertools.count(1_300_000_000_000_000_000)
        self.app_id = self.snowflake()
        self.bot_user = self.user_payload(self.app_id, "repbot", bot=True)
        self.guild_id = self.snowflake()
        self.channel_id = self.snowflake()
        self.mod_role_id = self.snowflake()
        self.shard_count = shard_count
        self.app_flags = app_flags
        self.users: dict[str, dict[str, Any]] = {self.app_id: self.bot_user}
        self.threads: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, dict[str, Any]] = {}
        self.dm_channels: dict[str, dict[str, Any]] = {}  # user id -> channel
        self.commands: dict[str, list[dict[str, Any]]] = {}  # "global" or guild id -> synced commands
        self.requests: list[Recorded] = []
        self.sessions: list[GatewaySession] = []
        self.live: dict[int, GatewaySession] = {}
        self.dispatched: list[tuple[float, str, dict[str, Any]]] = []
        self.replay_on_resume = 0  # also re-send this many already-delivered events on RESUME
        self.dm_forbidden: set[str] = set()  # users whose DMs are closed (403, code 50007)
        self.token: str | None = None  # when set, other Authorization headers get 401
        self.acknowledged: set[str] = set()  # interactions that got their one initial response
        self.refuse_privileged = False  # close with 4014 when MESSAGE_CONTENT is asked for but not enabled
        self.refuse_resume = False  # answer RESUME with INVALID_SESSION (d=false): the client must IDENTIFY anew
        self._limits: list[tuple[str, re.Pattern[str], int]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0
        app = web.Application()
        app.router.add_route("*", "/api/v10/{tail:.*}", self._api)
        app.router.add_get("/gateway", self._gateway)
        self.app = app

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> FakeDiscord:
        self._runner = web.AppRunner(self.app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        for session in self.sessions:
            if not session.ws.closed:
                await session.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # -- payloads -------------------------------------------------------------------------------

    def snowflake(self) -> str:
        return str(next(self._ids))

    @staticmethod
    def user_payload(user_id: str, name: str, *, bot: bool = False) -> dict[str, Any]:
        return {
            "id": user_id,
            "username": name,
            "discriminator": "0",
            "global_name": name.title(),
            "avatar": None,
            "bot": bot,
            "public_flags": 0,
        }

    def add_user(self, name: str) -> dict[str, Any]:
        user = self.user_payload(self.snowflake(), name)
        self.users[user["id"]] = user
        return user

    def member_payload(
        self, user: dict[str, Any], *, roles: list[str] | None = None, permissions: int | None = None
    ) -> dict[str, Any]:
        member: dict[str, Any] = {
            "user": user,
            "roles": roles or [],
            "joined_at": TIMESTAMP,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "nick": None,
        }
        if permissions is not None:
            member["permissions"] = str(permissions)
        return member

    def channel_payload(self) -> dict[str, Any]:
        return {
            "id": self.channel_id,
            "type": 0,
            "name": "general",
            "position": 0,
            "guild_id": self.guild_id,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "rate_limit_per_user": 0,
            "last_message_id": None,
        }

    def guild_payload(self) -> dict[str, Any]:
        role = {
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
            "icon": None,
            "unicode_emoji": None,
        }
        return {
            "id": self.guild_id,
            "name": "Release Crew",
            "owner_id": self.snowflake(),
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "emojis": [],
            "stickers": [],
            "roles": [
                {"id": self.guild_id, "name": "@everyone", "position": 0, "permissions": str(EVERYONE_PERMISSIONS), **role},
                {"id": self.mod_role_id, "name": "Moderators", "position": 1, "permissions": str(EVERYONE_PERMISSIONS), **role},
            ],
            "channels": [self.channel_payload()],
            "threads": list(self.threads.values()),
            "members": [self.member_payload(self.bot_user)],
            "member_count": 3,
            "large": False,
            "unavailable": False,
            "joined_at": TIMESTAMP,
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
        }

    def thread_payload(self, thread_id: str, parent_id: str, name: str) -> dict[str, Any]:
        return {
            "id": thread_id,
            "type": 11,
            "guild_id": self.guild_id,
            "parent_id": parent_id,
            "owner_id": self.app_id,
            "name": name,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "message_count": 0,
            "member_count": 1,
            "flags": 0,
            "total_message_sent": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": TIMESTAMP,
                "locked": False,
            },
        }

    def message_payload(self, author: dict[str, Any], channel_id: str, content: str = "", **extra: Any) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.snowflake(),
            "channel_id": channel_id,
            "author": author,
            "content": content,
            "timestamp": TIMESTAMP,
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "components": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
        }
        if channel_id == self.channel_id or channel_id in self.threads:
            data["guild_id"] = self.guild_id
        data.update(extra)
        return data

    # -- REST -------------------------------------------------------------------------------------

    def limit_once(self, method: str, path_pattern: str, times: int = 1) -> None:
        """The next `times` matching requests get a 429 (with `Via`, so the client retries)."""
        self._limits.append((method, re.compile(path_pattern), times))

    def _limited(self, method: str, path: str) -> bool:
        for i, (m, pattern, times) in enumerate(self._limits):
            if m == method and pattern.search(path) and times > 0:
                self._limits[i] = (m, pattern, times - 1)
                return True
        return False

    async def _read_body(self, request: web.Request) -> tuple[Any, list[str]]:
        if not request.can_read_body:
            return None, []
        if request.content_type == "multipart/form-data":
            form = await request.post()
            files = [v.filename for k, v in form.items() if k.startswith("files[")]  # type: ignore[union-attr]
            payload = form.get("payload_json")
            return (json.loads(str(payload)) if payload else None), files
        raw = await request.read()
        if raw and request.content_type == "application/json":
            return json.loads(raw), []
        return (raw.decode() or None), []

    async def _api(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body, files = await self._read_body(request)
        record = Recorded(
            request.method, path, dict(request.query), body, 200, files=files, auth=request.headers.get("Authorization")
        )
        self.requests.append(record)
        if (
            self.token is not None
            and record.auth != f"Bot {self.token}"
            and not path.startswith(("/webhooks/", "/interactions/"))
        ):
            record.status = 401
            return _json({"message": "401: Unauthorized", "code": 0}, 401)
        if self._limited(request.method, path):
            record.status = 429
            return web.Response(
                body=json.dumps({"message": "You are being rate limited.", "retry_after": 0.05, "global": False}).encode(),
                status=429,
                headers={
                    "Content-Type": "application/json",
                    "Retry-After": "1",
                    "X-RateLimit-Limit": "5",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset-After": "0.05",
                    "X-RateLimit-Bucket": "fake-bucket",
                    "X-RateLimit-Scope": "user",
                    "Via": "1.1 google",
                },
            )
        response = await self._route(request.method, path, body)
        record.status = response.status
        return response

    async def _route(self, method: str, path: str, body: Any) -> web.Response:  # noqa: C901 - a routing table
        parts = path.strip("/").split("/")
        if path == "/users/@me":
            return _json(self.bot_user)
        if path == "/oauth2/applications/@me":
            return _json(self.application_payload())
        if path in ("/gateway/bot", "/gateway"):
            return _json(
                {
                    "url": self.gateway_url,
                    "shards": self.shard_count,
                    "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
                }
            )
        if path == "/users/@me/guilds":
            return _json(
                [{"id": self.guild_id, "name": "Release Crew", "icon": None, "owner": False, "permissions": "0", "features": []}]
            )
        if path == "/users/@me/channels" and method == "POST":
            return self._open_dm(str(body["recipient_id"]))
        if parts[0] == "users" and len(parts) == 2 and method == "GET":
            user = self.users.get(parts[1])
            return _json(user) if user else _json({"message": "Unknown User", "code": 10013}, 404)
        if parts[0] == "guilds" and len(parts) == 2:
            return _json(self.guild_payload())
        if parts[0] == "guilds" and len(parts) == 4 and parts[2] == "members":
            return _json(self.member_payload(self.users.get(parts[3], self.bot_user)))
        if parts[0] == "channels":
            return await self._channels(method, parts, body)
        if parts[0] == "applications" and parts[-1] == "commands" and method == "PUT":
            scope = parts[3] if len(parts) == 5 else "global"
            self.commands[scope] = [self._command(c, scope) for c in body]
            return _json(self.commands[scope])
        if parts[0] == "interactions" and parts[-1] == "callback":
            return self._callback(parts[1], body)
        if parts[0] == "webhooks":
            return self._webhook(method, parts, body)
        return _json({"message": "404: Not Found", "code": 0}, 404)

    def application_payload(self) -> dict[str, Any]:
        return {
            "id": self.app_id,
            "name": "RepBot",
            "description": "",
            "icon": None,
            "rpc_origins": [],
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": self.user_payload(self.snowflake(), "owner"),
            "verify_key": "00",
            "flags": self.app_flags,
            "team": None,
            "summary": "",
            "interactions_endpoint_url": None,
            "approximate_guild_count": 1,
        }

    def _command(self, data: dict[str, Any], scope: str) -> dict[str, Any]:
        command = {
            "id": self.snowflake(),
            "application_id": self.app_id,
            "type": 1,
            "version": "1",
            "default_member_permissions": None,
            "dm_permission": True,
            "nsfw": False,
            "options": [],
            **data,
        }
        if scope != "global":
            command["guild_id"] = scope
        return command

    def _open_dm(self, user_id: str) -> web.Response:
        channel = self.dm_channels.get(user_id)
        if channel is None:
            channel = {"id": self.snowflake(), "type": 1, "recipients": [self.users[user_id]], "last_message_id": None}
            self.dm_channels[user_id] = channel
        return _json(channel)

    def _dm_user(self, channel_id: str) -> str | None:
        return next((u for u, c in self.dm_channels.items() if c["id"] == channel_id), None)

    async def _channels(self, method: str, parts: list[str], body: Any) -> web.Response:
        channel_id = parts[1]
        if len(parts) == 2 and method == "GET":
            if channel_id == self.channel_id:
                return _json(self.channel_payload())
            if channel_id in self.threads:
                return _json(self.threads[channel_id])
            return _json({"message": "Unknown Channel", "code": 10003}, 404)
        if len(parts) == 3 and parts[2] == "messages" and method == "GET":
            return self._history(channel_id)
        if len(parts) == 3 and parts[2] == "messages" and method == "POST":
            user = self._dm_user(channel_id)
            if user in self.dm_forbidden:
                return _json({"message": "Cannot send messages to this user", "code": 50007}, 403)
            extra = {k: body[k] for k in ("embeds", "components") if k in body}
            message = self.message_payload(self.bot_user, channel_id, body.get("content") or "", **extra)
            self.messages[message["id"]] = message
            return _json(message)
        if len(parts) == 5 and parts[4] == "threads" and method == "POST":
            # Discord gives a thread started from a message the id of that message.
            thread = self.thread_payload(parts[3], channel_id, body["name"])
            self.threads[thread["id"]] = thread
            await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
            return _json(thread)
        if len(parts) == 4 and parts[2] == "messages" and method == "PATCH":
            message = self.messages.setdefault(parts[3], self.message_payload(self.bot_user, channel_id, id=parts[3]))
            message.update({k: v for k, v in body.items() if k in ("content", "embeds", "components")})
            return _json(message)
        if len(parts) >= 6 and parts[4] == "reactions" and method == "PUT":
            return web.Response(status=204)
        return _json({"message": "404: Not Found", "code": 0}, 404)

    def _history(self, channel_id: str) -> web.Response:
        """GET /channels/{id}/messages?after=&limit=: like Discord, the `limit` oldest messages
        after `after`, returned newest first."""
        query = self.requests[-1].query
        after = int(query.get("after") or 0)
        limit = int(query.get("limit") or 50)
        found = sorted(
            (m for m in self.messages.values() if m["channel_id"] == channel_id and int(m["id"]) > after),
            key=lambda m: int(m["id"]),
        )[:limit]
        return _json(list(reversed(found)))

    def _callback(self, interaction_id: str, body: dict[str, Any]) -> web.Response:
        if interaction_id in self.acknowledged:
            return _json({"message": "Interaction has already been acknowledged.", "code": 40060}, 400)
        self.acknowledged.add(interaction_id)
        kind = body["type"]
        flags = (body.get("data") or {}).get("flags", 0) or 0
        resource: dict[str, Any] = {"type": kind}
        if kind == 4:
            resource["message"] = self.message_payload(
                self.bot_user, self.channel_id, body["data"].get("content") or "", flags=flags
            )
        return _json(
            {
                "interaction": {
                    "id": interaction_id,
                    "type": 2,
                    "response_message_loading": kind == 5,
                    "response_message_ephemeral": bool(flags & 64),
                },
                "resource": resource,
            }
        )

    def _webhook(self, method: str, parts: list[str], body: Any) -> web.Response:
        if method == "DELETE":
            return web.Response(status=204)
        content = (body or {}).get("content") or ""
        extra = {k: body[k] for k in ("embeds", "flags") if body and k in body}
        message = self.message_payload(
            self.bot_user, self.channel_id, content, webhook_id=self.app_id, application_id=self.app_id, **extra
        )
        return _json(message)

    # -- gateway ----------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}}))
        session: GatewaySession | None = None
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            if session is not None:
                session.received.append(frame)
            if frame["op"] == 1:
                await ws.send_str(json.dumps({"op": 11}))
            elif frame["op"] == 2 and self.refuse_privileged and frame["d"]["intents"] & MESSAGE_CONTENT:
                await ws.close(code=4014, message=b"Disallowed intent(s).")
            elif frame["op"] == 2:
                session = await self._identify(ws, frame["d"])
                session.received.append(frame)
            elif frame["op"] == 6 and self.refuse_resume:
                await ws.send_str(json.dumps({"op": 9, "d": False}))
            elif frame["op"] == 6:
                session = await self._resume(ws, frame["d"])
                session.received.append(frame)
        return ws

    def _shard_guilds(self, shard: int, count: int) -> list[str]:
        return [self.guild_id] if (int(self.guild_id) >> 22) % count == shard else []

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> GatewaySession:
        shard, count = data.get("shard", [0, 1])
        session = GatewaySession(ws, shard, count, f"session-{self.snowflake()}")
        self.sessions.append(session)
        self.live[shard] = session
        guilds = self._shard_guilds(shard, count)
        await self._send(
            session,
            "READY",
            {
                "v": 10,
                "user": self.bot_user,
                "guilds": [{"id": g, "unavailable": True} for g in guilds],
                "session_id": session.session_id,
                "resume_gateway_url": self.gateway_url,
                "shard": [shard, count],
                "application": {"id": self.app_id, "flags": self.app_flags},
                "private_channels": [],
                "relationships": [],
                "presences": [],
            },
        )
        for _ in guilds:
            await self._send(session, "GUILD_CREATE", self.guild_payload())
        return session

    async def _resume(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> GatewaySession:
        old = next(s for s in self.sessions if s.session_id == data["session_id"])
        session = GatewaySession(ws, old.shard, old.shard_count, old.session_id, seq=old.seq, sent=old.sent)
        self.sessions.append(session)
        self.live[old.shard] = session
        last = int(data.get("seq") or 0)
        missed = [f for f in old.sent if f["s"] > last]
        replayed = [f for f in old.sent if f["s"] <= last][-self.replay_on_resume :] if self.replay_on_resume else []
        for frame in replayed + missed:
            await ws.send_str(json.dumps(frame))
        await self._send(session, "RESUMED", {})
        return session

    async def _send(self, session: GatewaySession, event: str, data: dict[str, Any]) -> None:
        session.seq += 1
        frame = {"op": 0, "t": event, "s": session.seq, "d": data}
        if event not in ("READY", "RESUMED"):
            session.sent.append(frame)
        self.dispatched.append((time.monotonic(), event, data))
        await session.ws.send_str(json.dumps(frame))

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send an event to the shard that owns the guild (shard 0 for DMs)."""
        guild = data.get("guild_id")
        shard = (int(guild) >> 22) % self.shard_count if guild else 0
        await self._send(self.live[shard], event, data)

    async def reconnect(self, shard: int = 0) -> None:
        """Ask the client to reconnect (op 7); it resumes on a new socket."""
        old = self.live[shard]
        await old.ws.send_str(json.dumps({"op": 7, "d": None}))
        await self.wait_for(lambda: self.live[shard] is not old and any(f["op"] == 6 for f in self.live[shard].received))

    async def close_gateway(self, code: int, shard: int = 0) -> None:
        """Close the shard's live connection with `code` (4000: a plain disconnect; 4004: the token
        was reset; 4014: the intent was switched off), as Discord does."""
        await self.live[shard].ws.close(code=code, message=b"closed by the fake")

    # -- driving the client like people would --------------------------------------------------

    async def say(self, user: dict[str, Any], channel_id: str, content: str) -> dict[str, Any]:
        message = self.message_payload(user, channel_id, content)
        self.messages[message["id"]] = message
        await self.dispatch("MESSAGE_CREATE", message)
        return message

    def say_unseen(self, user: dict[str, Any], channel_id: str, content: str) -> dict[str, Any]:
        """A message written while the bot was not connected: stored (history has it), not dispatched."""
        message = self.message_payload(user, channel_id, content)
        self.messages[message["id"]] = message
        return message

    async def edit(self, message: dict[str, Any], content: str) -> None:
        message.update(content=content, edited_timestamp=TIMESTAMP)
        await self.dispatch("MESSAGE_UPDATE", dict(message))

    async def delete(self, message: dict[str, Any]) -> None:
        data = {"id": message["id"], "channel_id": message["channel_id"]}
        if "guild_id" in message:
            data["guild_id"] = message["guild_id"]
        await self.dispatch("MESSAGE_DELETE", data)

    def interaction_payload(
        self,
        user: dict[str, Any],
        kind: int,
        data: dict[str, Any],
        *,
        channel_id: str | None = None,
        permissions: int = 0,
        roles: list[str] | None = None,
        message: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        channel_id = channel_id or self.channel_id
        channel = self.threads.get(channel_id) or self.channel_payload()
        payload: dict[str, Any] = {
            "id": self.snowflake(),
            "application_id": self.app_id,
            "type": kind,
            "token": f"itoken-{self.snowflake()}",
            "version": 1,
            "guild_id": self.guild_id,
            "channel_id": channel_id,
            "channel": channel,
            "member": self.member_payload(user, roles=roles, permissions=permissions),
            "data": data,
            "app_permissions": str(EVERYONE_PERMISSIONS),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "authorizing_integration_owners": {"0": self.guild_id},
            "context": 0,
        }
        if message is not None:
            payload["message"] = message
        return payload

    async def slash(self, user: dict[str, Any], sub: str, options: dict[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
        """`/repbot <sub> [options]` as Discord delivers it."""
        data = {
            "id": self.snowflake(),
            "name": "repbot",
            "type": 1,
            "options": [
                {"name": sub, "type": 1, "options": [{"name": k, "type": 3, "value": v} for k, v in (options or {}).items()]}
            ],
        }
        payload = self.interaction_payload(user, 2, data, **kwargs)
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    async def click(self, user: dict[str, Any], message: dict[str, Any], custom_id: str, **kwargs: Any) -> dict[str, Any]:
        payload = self.interaction_payload(user, 3, {"custom_id": custom_id, "component_type": 2}, message=message, **kwargs)
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    async def submit_modal(self, user: dict[str, Any], custom_id: str, values: dict[str, str], **kwargs: Any) -> dict[str, Any]:
        rows = [{"type": 1, "components": [{"type": 4, "custom_id": k, "value": v}]} for k, v in values.items()]
        payload = self.interaction_payload(user, 5, {"custom_id": custom_id, "components": rows}, **kwargs)
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    # -- reading what happened ------------------------------------------------------------------

    def calls(self, method: str, pattern: str) -> list[Recorded]:
        regex = re.compile(pattern)
        return [r for r in self.requests if r.method == method and regex.search(r.path)]

    def interaction_calls(self, interaction: dict[str, Any]) -> list[Recorded]:
        token = interaction["token"]
        return [r for r in self.requests if interaction["id"] in r.path or token in r.path]

    async def wait_for(self, condition: Callable[[], object], seconds: float = 5.0) -> None:
        """Poll: conditions also watch the client's cache, the database and spies, not just this fake."""
        try:
            async with asyncio.timeout(seconds):
                while not condition():  # noqa: ASYNC110 - see the docstring
                    await asyncio.sleep(0.01)
        except TimeoutError:
            raise AssertionError("timed out waiting for the fake Discord condition") from None
