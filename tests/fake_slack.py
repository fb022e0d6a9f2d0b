"""A fake Slack for the adapter tests: Web API, Socket Mode websocket, response_url, OAuth, uploads.

It runs on 127.0.0.1 (port 0) and is driven by the real slack-sdk/slack-bolt. Like Slack, it
rejects Block Kit payloads over the limits (so a renderer that overflows fails its test), answers
429 + Retry-After when told to, and records every call so tests can read the transcript.
The second half builds signed requests the way Slack sends them (events, commands, buttons, modals).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from aiohttp import ClientSession, WSMsgType, web
from slack_sdk.signature import SignatureVerifier

BOT_SCOPES = (
    "channels:history,groups:history,im:history,im:read,im:write,chat:write,reactions:write,commands,"
    "users:read,usergroups:read,channels:read,groups:read,files:write"
)
TEAM = "T1"
BOT_USER = "UBOT"
BOT_ID = "B1"
BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-1-A1-test"
SIGNING_SECRET = "test-signing-secret"

# Raw control sequences that must never appear in anything the bot sends.
FORBIDDEN = ("<!channel", "<!here", "<!everyone", "<@U", "<#C", "<!subteam")


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token: str | None
    at: float


@dataclass
class Team:
    id: str
    name: str
    bot_user: str
    bot_id: str
    scopes: str = BOT_SCOPES


def _limit_problems(blocks: Any, max_blocks: int) -> list[str]:
    """What Slack would reject in these blocks (the limits the renderer promises to keep)."""
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    problems: list[str] = []
    if not isinstance(blocks, list):
        return ["blocks is not a list"]
    if len(blocks) > max_blocks:
        problems.append(f"{len(blocks)} blocks > {max_blocks}")
    total = 0

    def text_of(obj: Any, limit: int, where: str) -> None:
        nonlocal total
        if not isinstance(obj, dict) or obj.get("type") not in ("mrkdwn", "plain_text") or not isinstance(obj.get("text"), str):
            problems.append(f"{where}: bad text object {obj!r:.80}")
            return
        if not obj["text"]:
            problems.append(f"{where}: empty text")
        if len(obj["text"]) > limit:
            problems.append(f"{where}: text {len(obj['text'])} > {limit}")
        total += len(obj["text"])

    for i, block in enumerate(blocks):
        kind = block.get("type")
        where = f"block {i} ({kind})"
        if kind == "section":
            if "text" in block:
                text_of(block["text"], 3000, where)
            fields = block.get("fields") or []
            if len(fields) > 10:
                problems.append(f"{where}: {len(fields)} fields > 10")
            for f in fields:
                text_of(f, 2000, where + " field")
            if "text" not in block and not fields:
                problems.append(f"{where}: neither text nor fields")
        elif kind == "header":
            text_of(block.get("text"), 150, where)
            if (block.get("text") or {}).get("type") != "plain_text":
                problems.append(f"{where}: header must be plain_text")
        elif kind == "context":
            elements = block.get("elements") or []
            if not elements or len(elements) > 10:
                problems.append(f"{where}: {len(elements)} elements")
            for e in elements:
                text_of(e, 3000, where)
        elif kind == "actions":
            elements = block.get("elements") or []
            if not elements or len(elements) > 25:
                problems.append(f"{where}: {len(elements)} elements")
            for e in elements:
                text_of(e.get("text"), 75, where + " button")
                if len(e.get("value", "")) > 2000:
                    problems.append(f"{where}: button value too long")
        elif kind == "input":
            element = block.get("element") or {}
            if element.get("type") == "plain_text_input" and element.get("max_length", 3000) > 3000:
                problems.append(f"{where}: plain_text_input max_length > 3000")
        elif kind not in ("divider", "image", "rich_text"):
            problems.append(f"{where}: unknown block type")
    if max_blocks == 50 and total > 12_000:
        problems.append(f"msg_blocks_too_long: {total} characters")
    return problems


@dataclass
class FakeSlack:
    teams: dict[str, Team] = field(default_factory=lambda: {BOT_TOKEN: Team(TEAM, "Team One", BOT_USER, BOT_ID)})
    app_token: str = APP_TOKEN
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # users.info "user" objects
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    bot_channels: list[dict[str, str]] = field(default_factory=list)  # users.conversations
    not_in_channel: set[str] = field(default_factory=set)  # channels where chat.postMessage fails
    absent_users: set[str] = field(default_factory=set)  # users chat.postEphemeral cannot reach
    oauth_grants: dict[str, dict[str, Any]] = field(default_factory=dict)  # code -> oauth.v2.access reply
    calls: list[Call] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # limit violations (also returned as errors)
    responses: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # response_url posts
    uploads: dict[str, bytes] = field(default_factory=dict)
    acks: list[dict[str, Any]] = field(default_factory=list)  # Socket Mode acks
    # Thread replies people wrote, as conversations.replies returns them: (channel, thread ts) -> messages.
    history: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    socket_url: str | None = None  # hand out this Socket Mode URL instead (e.g. one nobody answers on)
    _rate_limited: dict[str, list[int]] = field(default_factory=dict)
    _failing: dict[str, list[int]] = field(default_factory=dict)
    # Called (and awaited) when a method is called, before it answers: faults elsewhere mid-call.
    during: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)
    _ts: Any = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Condition | None = None
    _runner: web.AppRunner | None = None
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    _ack_waiters: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    _socket_connected: asyncio.Event | None = None
    port: int = 0

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> FakeSlack:
        self._changed = asyncio.Condition()
        self._socket_connected = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024**2)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/link", self._link)
        app.router.add_post("/response/{id}", self._response_url)
        app.router.add_post("/upload/{id}", self._upload)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()  # 0: any free port
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/"

    # -- scripting ------------------------------------------------------------------------------

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """The next `times` calls of `method` get HTTP 429 with Retry-After."""
        self._rate_limited.setdefault(method, []).extend([retry_after] * times)

    def fail(self, method: str, times: int = 1, status: int = 500) -> None:
        """The next `times` calls of `method` get that HTTP status (a Slack outage)."""
        self._failing.setdefault(method, []).extend([status] * times)

    def add_user(self, user_id: str, name: str, *, admin: bool = False, owner: bool = False, team: str = TEAM) -> None:
        self.users[user_id] = {
            "id": user_id,
            "team_id": team,
            "name": name.lower(),
            "real_name": name,
            "is_admin": admin,
            "is_owner": owner,
            "profile": {"display_name": name, "real_name": name},
        }

    # -- reading the transcript ------------------------------------------------------------------

    def of(self, method: str, where: Callable[[Call], bool] | None = None) -> list[Call]:
        return [c for c in self.calls if c.method == method and (where is None or where(c))]

    async def wait_for(
        self, method: str, count: int = 1, where: Callable[[Call], bool] | None = None, within: float = 5.0
    ) -> list[Call]:
        assert self._changed is not None

        def enough() -> bool:
            return len(self.of(method, where)) >= count

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(enough), within)
        return self.of(method, where)

    def output(self) -> str:
        """Everything the bot tried to show anyone, as one JSON string (for leak checks)."""
        shown = [
            c.params
            for c in self.calls
            if c.method in ("chat.postMessage", "chat.postEphemeral", "chat.update", "views.open", "views.publish")
        ]
        return json.dumps(shown + [r for _, r in self.responses], ensure_ascii=False)

    def texts(self, method: str, where: Callable[[Call], bool] | None = None) -> list[str]:
        """The readable text of each message sent with `method` (blocks flattened)."""
        out = []
        for c in self.of(method, where):
            out.append(flatten(c.params))
        return out

    # -- Web API ---------------------------------------------------------------------------------

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    async def _params(self, req: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(req.query)
        if req.can_read_body:
            if req.content_type == "application/json":
                params.update(await req.json())
            elif req.content_type == "multipart/form-data":
                data = await req.post()
                params.update({k: v for k, v in data.items() if isinstance(v, str)})
            else:
                params.update(dict(parse_qsl(await req.text())))
        return params

    async def _api(self, req: web.Request) -> web.StreamResponse:
        method = req.match_info["method"]
        params = await self._params(req)
        auth = req.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else params.get("token")
        self.calls.append(Call(method, params, token, time.monotonic()))
        await self._notify()
        hook = self.during.get(method)
        if hook is not None:
            await hook()
        failing = self._failing.get(method)
        if failing:
            return web.json_response({"ok": False, "error": "internal_error"}, status=failing.pop(0))
        waits = self._rate_limited.get(method)
        if waits:
            retry_after = waits.pop(0)
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": str(retry_after)})
        if method == "oauth.v2.access":
            grant = self.oauth_grants.get(params.get("code", ""))
            return web.json_response(grant or {"ok": False, "error": "invalid_code"})
        if method == "apps.connections.open":
            if token != self.app_token:
                return web.json_response({"ok": False, "error": "invalid_auth"})
            return web.json_response({"ok": True, "url": self.socket_url or f"ws://127.0.0.1:{self.port}/link?ticket=t"})
        team = self.teams.get(token or "")
        if team is None:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        return await handler(params, team)

    def _next_ts(self) -> str:
        n = next(self._ts)
        return f"{1700000000 + n}.{n:06d}"

    def _check(self, params: dict[str, Any], max_blocks: int = 50) -> web.Response | None:
        problems = []
        if "blocks" in params and params["blocks"] is not None:
            problems += _limit_problems(params["blocks"], max_blocks)
        text = params.get("text") or ""
        if len(text) > 4000:
            problems.append(f"text {len(text)} > 4000")
        if not text and not params.get("blocks"):
            problems.append("no_text")
        if problems:
            self.problems += problems
            return web.json_response({"ok": False, "error": "invalid_blocks", "errors": problems})
        return None

    async def _m_auth_test(self, params: dict[str, Any], team: Team) -> web.Response:
        return web.json_response(
            {
                "ok": True,
                "url": "https://team.slack.com/",
                "team": team.name,
                "user": "repbot",
                "team_id": team.id,
                "user_id": team.bot_user,
                "bot_id": team.bot_id,
            },
            headers={"x-oauth-scopes": team.scopes},
        )

    async def _m_chat_postMessage(self, params: dict[str, Any], team: Team) -> web.Response:
        if params.get("channel") in self.not_in_channel:
            return web.json_response({"ok": False, "error": "not_in_channel"})
        bad = self._check(params)
        if bad is not None:
            return bad
        ts = self._next_ts()
        params["ts"] = ts
        return web.json_response({"ok": True, "channel": params["channel"], "ts": ts, "message": {"ts": ts}})

    async def _m_chat_postEphemeral(self, params: dict[str, Any], team: Team) -> web.Response:
        if not params.get("user"):
            return web.json_response({"ok": False, "error": "user_not_found"})
        if params["user"] in self.absent_users:
            return web.json_response({"ok": False, "error": "user_not_in_channel"})
        bad = self._check(params)
        return bad or web.json_response({"ok": True, "message_ts": self._next_ts()})

    async def _m_chat_update(self, params: dict[str, Any], team: Team) -> web.Response:
        bad = self._check(params)
        return bad or web.json_response({"ok": True, "channel": params.get("channel"), "ts": params.get("ts")})

    async def _m_reactions_add(self, params: dict[str, Any], team: Team) -> web.Response:
        same = [
            c
            for c in self.of("reactions.add")[:-1]
            if c.params.get("timestamp") == params.get("timestamp") and c.params.get("name") == params.get("name")
        ]
        return web.json_response({"ok": False, "error": "already_reacted"} if same else {"ok": True})

    async def _m_conversations_open(self, params: dict[str, Any], team: Team) -> web.Response:
        return web.json_response({"ok": True, "channel": {"id": "D" + str(params.get("users", "")).split(",")[0]}})

    async def _m_users_info(self, params: dict[str, Any], team: Team) -> web.Response:
        user = self.users.get(params.get("user", ""))
        return web.json_response({"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"})

    async def _m_usergroups_users_list(self, params: dict[str, Any], team: Team) -> web.Response:
        members = self.usergroups.get(params.get("usergroup", ""))
        return web.json_response(
            {"ok": True, "users": members} if members is not None else {"ok": False, "error": "no_such_subteam"}
        )

    async def _m_conversations_replies(self, params: dict[str, Any], team: Team) -> web.Response:
        channel, ts = str(params.get("channel", "")), str(params.get("ts", ""))
        parent = {"type": "message", "user": team.bot_user, "bot_id": team.bot_id, "ts": ts, "thread_ts": ts, "text": "Q"}
        replies = self.history.get((channel, ts), [])
        return web.json_response(
            {"ok": True, "messages": [parent, *replies], "has_more": False, "response_metadata": {"next_cursor": ""}}
        )

    async def _m_users_conversations(self, params: dict[str, Any], team: Team) -> web.Response:
        return web.json_response({"ok": True, "channels": self.bot_channels, "response_metadata": {"next_cursor": ""}})

    async def _view(self, params: dict[str, Any]) -> web.Response:
        view = params.get("view")
        view = json.loads(view) if isinstance(view, str) else view
        params["view"] = view
        problems = _limit_problems((view or {}).get("blocks", []), 100)
        if problems:
            self.problems += problems
            return web.json_response({"ok": False, "error": "invalid_arguments", "errors": problems})
        return web.json_response({"ok": True, "view": {"id": f"V{next(self._ts)}", **(view or {})}})

    async def _m_views_open(self, params: dict[str, Any], team: Team) -> web.Response:
        if not params.get("trigger_id"):
            return web.json_response({"ok": False, "error": "invalid_trigger_id"})
        return await self._view(params)

    async def _m_views_publish(self, params: dict[str, Any], team: Team) -> web.Response:
        return await self._view(params)

    async def _m_files_getUploadURLExternal(self, params: dict[str, Any], team: Team) -> web.Response:
        file_id = f"F{next(self._ts)}"
        return web.json_response({"ok": True, "upload_url": f"{self.base}/upload/{file_id}", "file_id": file_id})

    async def _m_files_completeUploadExternal(self, params: dict[str, Any], team: Team) -> web.Response:
        files = params.get("files")
        files = json.loads(files) if isinstance(files, str) else files
        return web.json_response({"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files or []]})

    async def _upload(self, req: web.Request) -> web.Response:
        self.uploads[req.match_info["id"]] = await req.read()
        await self._notify()
        return web.Response(text="OK - 1")

    async def _response_url(self, req: web.Request) -> web.Response:
        body = await req.json()
        problems = _limit_problems(body.get("blocks") or [], 50)
        if problems:
            self.problems += problems
            return web.Response(status=400, text="invalid_blocks")
        self.responses.append((req.match_info["id"], body))
        await self._notify()
        return web.Response(text="ok")

    async def wait_responses(self, count: int = 1, within: float = 5.0) -> list[dict[str, Any]]:
        assert self._changed is not None
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.responses) >= count), within)
        return [r for _, r in self.responses]

    # -- Socket Mode ---------------------------------------------------------------------------

    async def _link(self, req: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(req)
        self._sockets.append(ws)
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A1"}}))
        assert self._socket_connected is not None
        self._socket_connected.set()
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                data = json.loads(msg.data)
                self.acks.append(data)
                waiter = self._ack_waiters.pop(data.get("envelope_id", ""), None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(data)
        self._sockets.remove(ws)
        return ws

    def write_unseen(self, channel: str, thread_ts: str, ts: str, text: str, *, user: str = "U1") -> None:
        """A thread reply Slack did not deliver (no envelope); conversations.replies has it."""
        message = {"type": "message", "user": user, "text": text, "ts": ts, "thread_ts": thread_ts}
        self.history.setdefault((channel, thread_ts), []).append(message)

    async def drop_socket(self) -> None:
        """Close the live Socket Mode connection from Slack's side (slack-sdk reconnects)."""
        assert self._socket_connected is not None
        self._socket_connected.clear()
        await self._sockets[-1].close()

    async def send_envelope(
        self, kind: str, payload: dict[str, Any], *, retry_attempt: int = 0, within: float = 5.0
    ) -> dict[str, Any]:
        """Deliver one Socket Mode envelope and wait for the app's ack (returned)."""
        assert self._socket_connected is not None
        await asyncio.wait_for(self._socket_connected.wait(), within)
        envelope_id = f"env-{next(self._ts)}"
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._ack_waiters[envelope_id] = waiter
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": retry_attempt,
            "retry_reason": "timeout" if retry_attempt else "",
        }
        await self._sockets[-1].send_str(json.dumps(envelope))
        return await asyncio.wait_for(waiter, within)


def flatten(params: dict[str, Any]) -> str:
    """Top-level text plus every text in the blocks, one string."""
    parts = [str(params.get("text") or "")]
    blocks = params.get("blocks") or (params.get("view") or {}).get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)

    def walk(obj: Any) -> None:
        if isinstance(obj, dict):
            if obj.get("type") in ("mrkdwn", "plain_text") and isinstance(obj.get("text"), str):
                parts.append(obj["text"])
            for value in obj.values():
                if isinstance(value, (dict, list)):
                    walk(value)
        elif isinstance(obj, list):
            for item in obj:
                walk(item)

    walk(blocks)
    return "\n".join(parts)


# -- requests the way Slack sends them --------------------------------------------------------------


def event_callback(
    event: dict[str, Any], *, team: str = TEAM, event_id: str | None = None, bot_user: str = BOT_USER
) -> dict[str, Any]:
    return {
        "token": "legacy",
        "team_id": team,
        "api_app_id": "A1",
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:12]}",
        "event_time": int(time.time()),
        "authorizations": [
            {"enterprise_id": None, "team_id": team, "user_id": bot_user, "is_bot": True, "is_enterprise_install": False}
        ],
    }


def thread_reply(
    text: str, ts: str, thread_ts: str, *, user: str = "U1", channel: str = "C1", subtype: str | None = None
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts,
        "thread_ts": thread_ts,
        "event_ts": ts,
        "channel_type": "channel",
    }
    if subtype:
        event["subtype"] = subtype
    return event


def edited(text: str, ts: str, thread_ts: str, *, user: str = "U1", channel: str = "C1") -> dict[str, Any]:
    return {
        "type": "message",
        "subtype": "message_changed",
        "channel": channel,
        "hidden": True,
        "ts": f"{float(ts) + 50:.6f}",
        "event_ts": f"{float(ts) + 50:.6f}",
        "channel_type": "channel",
        "message": {
            "type": "message",
            "user": user,
            "text": text,
            "ts": ts,
            "thread_ts": thread_ts,
            "edited": {"user": user, "ts": "1"},
        },
        "previous_message": {"type": "message", "user": user, "text": "(old)", "ts": ts, "thread_ts": thread_ts},
    }


def deleted(ts: str, thread_ts: str, *, user: str = "U1", channel: str = "C1") -> dict[str, Any]:
    return {
        "type": "message",
        "subtype": "message_deleted",
        "channel": channel,
        "hidden": True,
        "deleted_ts": ts,
        "ts": f"{float(ts) + 60:.6f}",
        "event_ts": f"{float(ts) + 60:.6f}",
        "channel_type": "channel",
        "previous_message": {"type": "message", "user": user, "text": "(old)", "ts": ts, "thread_ts": thread_ts},
    }


def command_body(text: str, *, user: str = "U1", channel: str = "C1", team: str = TEAM, response_url: str = "") -> dict[str, str]:
    return {
        "token": "legacy",
        "team_id": team,
        "team_domain": "team",
        "channel_id": channel,
        "channel_name": "general",
        "user_id": user,
        "user_name": user.lower(),
        "command": "/repbot",
        "text": text,
        "api_app_id": "A1",
        "response_url": response_url,
        "trigger_id": "1.2.trigger",
    }


def action_body(
    action: str, value: str, message_ts: str, *, user: str = "U1", channel: str = "C1", team: str = TEAM
) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": team, "domain": "team"},
        "user": {"id": user, "username": user.lower(), "team_id": team},
        "api_app_id": "A1",
        "token": "legacy",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False},
        "trigger_id": "2.3.trigger",
        "channel": {"id": channel, "name": "general"},
        "message": {"type": "message", "ts": message_ts, "user": BOT_USER, "bot_id": BOT_ID, "text": "question"},
        "response_url": "",
        "actions": [
            {"action_id": action, "block_id": "repbot_actions_1", "type": "button", "value": value, "action_ts": str(time.time())}
        ],
    }


def view_submission_body(
    view: dict[str, Any], text: str, *, user: str = "U1", team: str = TEAM, view_id: str = "V100"
) -> dict[str, Any]:
    return {
        "type": "view_submission",
        "team": {"id": team, "domain": "team"},
        "user": {"id": user, "username": user.lower(), "team_id": team},
        "api_app_id": "A1",
        "token": "legacy",
        "trigger_id": "3.4.trigger",
        "view": {
            "id": view_id,
            "team_id": team,
            "type": "modal",
            "callback_id": view["callback_id"],
            "private_metadata": view.get("private_metadata", ""),
            "state": {"values": {"answer": {"answer": {"type": "plain_text_input", "value": text}}}},
            "hash": "h",
        },
    }


@dataclass
class SignedPoster:
    """Posts requests to the app's /slack/events as Slack does: signed, JSON or form-encoded."""

    url: str
    secret: str = SIGNING_SECRET

    def headers(
        self, body: str, content_type: str, *, timestamp: int | None = None, retry_num: int | None = None
    ) -> dict[str, str]:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": SignatureVerifier(self.secret).generate_signature(timestamp=ts, body=body),
        }
        if retry_num:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        return headers

    async def send(
        self,
        session: ClientSession,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        retry_num: int | None = None,
        signature: str | None = None,
    ) -> tuple[int, str]:
        headers = self.headers(body, content_type, timestamp=timestamp, retry_num=retry_num)
        if signature is not None:
            headers["X-Slack-Signature"] = signature
        async with session.post(self.url, data=body.encode(), headers=headers) as response:
            return response.status, await response.text()

    async def event(self, session: ClientSession, payload: dict[str, Any], **kw: Any) -> tuple[int, str]:
        return await self.send(session, json.dumps(payload), "application/json", **kw)

    async def command(self, session: ClientSession, fields: dict[str, str], **kw: Any) -> tuple[int, str]:
        return await self.send(session, urlencode(fields), "application/x-www-form-urlencoded", **kw)

    async def interactive(self, session: ClientSession, payload: dict[str, Any], **kw: Any) -> tuple[int, str]:
        return await self.send(session, urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded", **kw)


# -- a RepBot wired to the fake through the real Slack adapter (HTTP mode) --------------------------


@dataclass
class SlackRig:
    """RepBot + SlackAdapter (HTTP mode) + FakeSlack, with helpers that read like a conversation."""

    fake: FakeSlack
    bot: Any  # bot.app.RepBot
    adapter: Any  # adapters.slack.adapter.SlackAdapter
    poster: SignedPoster
    session: ClientSession
    channel_id: int
    thread: str | None = None
    _ts: Any = field(default_factory=lambda: itertools.count(100))

    @classmethod
    async def start(cls, fake: FakeSlack, db_url: str, bank: Any, clock: Any, **overrides: Any) -> SlackRig:
        from adapters.slack.adapter import SlackAdapter
        from bot.app import RepBot
        from bot.config import Settings
        from bot.events import Place
        from tests.harness import TEAM_SETTINGS

        values: dict[str, Any] = {
            "database_url": db_url,
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": fake.api_url,
            "slack_mode": "http",
            "slack_port": 0,
            **TEAM_SETTINGS,
        }
        values.update(overrides)
        settings = Settings(**values)
        adapter = SlackAdapter.from_settings(settings, host="127.0.0.1")
        bot = RepBot(settings, adapter.chat, clock=clock, bank=bank)
        await bot.prepare()
        await adapter.start(bot)
        channel = await bot.daily.ensure_channel(Place("slack", TEAM, "C1"), "general")
        poster = SignedPoster(f"http://127.0.0.1:{adapter.port}/slack/events")
        return cls(fake, bot, adapter, poster, ClientSession(), channel.id)

    async def close(self) -> None:
        await self.session.close()
        await self.adapter.stop()
        await self.bot.stop()

    async def post_question(self, question_id: str = "test-canary") -> str:
        from bot.daily import schedule_of
        from storage.models import Channel

        async with self.bot.sessions() as session:
            channel = await session.get(Channel, self.channel_id)
        day = schedule_of(channel).local_day(self.bot.clock.now())
        posted = await self.bot.daily.post_daily(self.channel_id, day, question_id)
        assert posted is not None
        self.thread = posted.ref.thread_id
        return str(self.thread)

    def next_ts(self) -> str:
        return f"1800000000.{next(self._ts):06d}"

    async def reply(self, text: str, *, user: str = "U1", ts: str | None = None, file: bool = True, **kw: Any) -> tuple[int, str]:
        """A thread reply event; returns (HTTP status, the message ts).

        The 200 means the answer is held in the inbox; with `file` (the default) the held answers
        are then filed, as the running bot's inbox task does moments later.
        """
        assert self.thread is not None
        ts = ts or self.next_ts()
        status, _ = await self.poster.event(self.session, event_callback(thread_reply(text, ts, self.thread, user=user)), **kw)
        if file:
            await self.bot.inbox.drain()
        return status, ts

    async def command(self, text: str, *, user: str = "U1") -> int:
        body = command_body(text, user=user, response_url=f"{self.fake.base}/response/{user}-{next(self._ts)}")
        status, _ = await self.poster.command(self.session, body)
        return status
