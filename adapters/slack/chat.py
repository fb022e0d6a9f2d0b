"""The core's Chat port on the Slack Web API.

chat.postMessage keeps to about one message per second per channel (Slack's documented limit),
so the daily fan-out can call `post` for many channels at once; 429s that still happen are
retried by the client's AsyncRateLimitErrorRetryHandler. Reactions are sent in the background:
they are a courtesy, and waiting for them would delay the acknowledgement Slack waits for. They
keep to reactions.add's budget (Slack's Tier 3, about 50 a minute per workspace, with bursts), so
a burst of answers gets its 👀s spread over the following minute instead of a storm of 429s; the
ones still waiting when the bot stops are dropped (the answers themselves are stored).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiolimiter import AsyncLimiter
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.render import Rendered, SlackFile, SlackMessage, render, render_one
from adapters.slack.tokens import TokenSource
from bot.events import MessageRef, Person, Place
from bot.messages import Message

log = logging.getLogger(__name__)

REACTIONS_PER_MINUTE = 50
POST_ATTEMPTS = 6  # a post refused with 429 is tried again after Retry-After, up to this many times
# Errors that mean "this person cannot see an ephemeral message here": send it as a DM instead.
_EPHEMERAL_FALLBACK = frozenset({"user_not_in_channel", "channel_not_found", "not_in_channel"})


def _retry_after(headers: dict[str, Any]) -> float:
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    try:
        return max(0.0, float(value if not isinstance(value, list) else value[0]))
    except (TypeError, ValueError):
        return 1.0


class SlackChat:
    platform = "slack"

    def __init__(
        self,
        client: AsyncWebClient,
        tokens: TokenSource,
        *,
        messages_per_second: float = 1.0,
        workspace_requests_per_second: float = 20.0,
        reactions_per_minute: float = REACTIONS_PER_MINUTE,
        posts: AsyncWebClient | None = None,
    ):
        # Slack allows about one message per second per channel, and a workspace-wide budget on
        # top; pacing both here keeps a 1,000-channel fan-out out of 429 storms.
        self._workspace_rate = workspace_requests_per_second
        self._workspaces: dict[str, AsyncLimiter] = {}
        self._client = client
        # chat.postMessage goes through a client that leaves 429s to `_post_message`, so a retry
        # waits its turn in the pacing below; retried around it, it would burst past the limit.
        self._posts = posts or client
        self._tokens = tokens
        self._rate = messages_per_second
        self._limiters: dict[tuple[str, str], AsyncLimiter] = {}
        self._dm_channels: dict[tuple[str, str], str] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._reactions_per_minute = reactions_per_minute
        self._reaction_limiters: dict[str, AsyncLimiter] = {}

    # -- the Chat port ------------------------------------------------------------------------

    async def post(self, place: Place, message: Message) -> MessageRef:
        """Post top-level; a message too big for one Slack message continues in its own thread."""
        rendered = render(message)
        first, *rest = rendered.messages
        ts = await self._post_message(place, first)
        for more in rest:
            await self._post_message(place, more, thread_ts=ts)
        await self._upload(place, rendered.files, thread_ts=ts)
        return MessageRef(place, ts, ts)

    async def reply(self, thread: MessageRef, message: Message, only_to: Person | None = None) -> MessageRef | None:
        root = thread.root
        rendered = render(message)
        if only_to is not None:
            return await self._ephemeral(root, rendered, only_to)
        last: str | None = None
        for part in rendered.messages:
            last = await self._post_message(root.place, part, thread_ts=root.message_id)
        await self._upload(root.place, rendered.files, thread_ts=root.message_id)
        return MessageRef(root.place, last, root.message_id) if last else None

    async def dm(self, person: Person, message: Message) -> MessageRef | None:
        place = await self.dm_place(person)
        rendered = render(message)
        first: str | None = None
        for part in rendered.messages:
            ts = await self._post_message(place, part)
            first = first or ts
        await self._upload(place, rendered.files)
        return MessageRef(place, first, None) if first else None

    async def react(self, ref: MessageRef, emoji: str) -> None:
        task = asyncio.create_task(self._react(ref, emoji))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def update(self, ref: MessageRef, message: Message) -> None:
        one = render_one(message)
        token = await self._tokens.bot_token(ref.place.workspace)
        await self._client.chat_update(
            channel=ref.place.channel, ts=ref.message_id, text=one.text, blocks=list(one.blocks), token=token
        )

    # -- helpers used by the listeners ----------------------------------------------------------

    async def dm_place(self, person: Person) -> Place:
        key = (person.workspace, person.user_id)
        channel = self._dm_channels.get(key)
        if channel is None:
            token = await self._tokens.bot_token(person.workspace)
            response = await self._client.conversations_open(users=person.user_id, token=token)
            channel = str(response["channel"]["id"])
            self._dm_channels[key] = channel
        return Place("slack", person.workspace, channel, is_dm=True)

    async def ephemeral(self, place: Place, message: Message, to: Person, thread_ts: str | None = None) -> None:
        ref = MessageRef(place, thread_ts or "", thread_ts)
        await self._ephemeral(ref, render(message), to, threaded=thread_ts is not None)

    async def upload_private(self, person: Person, files: tuple[SlackFile, ...]) -> None:
        """Files meant for one person: Slack has no private files in a channel, so they go to the DM."""
        if files:
            await self._upload(await self.dm_place(person), files)

    async def drain(self) -> None:
        """Wait for background reactions (in tests)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def close(self, grace: float) -> None:
        """On shutdown: give reactions in flight `grace` seconds, then drop the ones still waiting."""
        if self._background:
            await asyncio.wait(list(self._background), timeout=grace)
        if self._background:
            log.info("dropping %d reactions still waiting for Slack's rate budget", len(self._background))
            for task in list(self._background):
                task.cancel()
            await asyncio.gather(*list(self._background), return_exceptions=True)

    # -- Web API calls --------------------------------------------------------------------------

    def _workspace_limiter(self, workspace: str) -> AsyncLimiter:
        limiter = self._workspaces.get(workspace)
        if limiter is None:
            # One request at a time, evenly spaced: no burst that a sliding-window limit would refuse.
            limiter = self._workspaces[workspace] = AsyncLimiter(1, 1.0 / self._workspace_rate)
        return limiter

    def _limiter(self, place: Place) -> AsyncLimiter:
        key = (place.workspace, place.channel)
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = self._limiters[key] = AsyncLimiter(1, 1.0 / self._rate)
        return limiter

    async def _post_message(self, place: Place, part: SlackMessage, thread_ts: str | None = None) -> str:
        token = await self._tokens.bot_token(place.workspace)
        kwargs: dict[str, Any] = {"channel": place.channel, "text": part.text, "token": token}
        if part.blocks:
            kwargs["blocks"] = list(part.blocks)
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        attempt = 1
        while True:
            async with self._limiter(place), self._workspace_limiter(place.workspace):
                try:
                    response = await self._posts.chat_postMessage(unfurl_links=False, unfurl_media=False, **kwargs)
                    return str(response["ts"])
                except SlackApiError as exc:
                    if exc.response.status_code != 429 or attempt == POST_ATTEMPTS:
                        raise
                    wait = _retry_after(exc.response.headers)
            log.info("chat.postMessage to %s refused (429); retrying in %.0f s", place.channel, wait)
            await asyncio.sleep(wait)
            attempt += 1

    async def _ephemeral(self, root: MessageRef, rendered: Rendered, to: Person, threaded: bool = True) -> MessageRef | None:
        token = await self._tokens.bot_token(root.place.workspace)
        last: str | None = None
        try:
            for part in rendered.messages:
                kwargs: dict[str, Any] = {
                    "channel": root.place.channel,
                    "user": to.user_id,
                    "text": part.text,
                    "token": token,
                }
                if part.blocks:
                    kwargs["blocks"] = list(part.blocks)
                if threaded and root.message_id:
                    kwargs["thread_ts"] = root.message_id
                response = await self._client.chat_postEphemeral(**kwargs)
                last = str(response.get("message_ts") or "") or None
        except SlackApiError as exc:
            if exc.response.get("error") not in _EPHEMERAL_FALLBACK:
                raise
            log.info("ephemeral message not possible in %s (%s); sending a DM", root.place.channel, exc.response.get("error"))
            place = await self.dm_place(to)
            for part in rendered.messages:
                await self._post_message(place, part)
            await self._upload(place, rendered.files)
            return None
        await self.upload_private(to, rendered.files)
        return MessageRef(root.place, last, root.message_id) if last else None

    async def _upload(self, place: Place, files: tuple[SlackFile, ...], thread_ts: str | None = None) -> None:
        if not files:
            return
        token = await self._tokens.bot_token(place.workspace)
        for f in files:
            kwargs: dict[str, Any] = {"channel": place.channel, "file": f.data, "filename": f.filename, "title": f.title}
            if f.alt:
                kwargs["alt_txt"] = f.alt
            if thread_ts:
                kwargs["thread_ts"] = thread_ts
            async with self._limiter(place):
                await self._client.files_upload_v2(token=token, **kwargs)

    def _reaction_limiter(self, workspace: str) -> AsyncLimiter:
        limiter = self._reaction_limiters.get(workspace)
        if limiter is None:
            limiter = self._reaction_limiters[workspace] = AsyncLimiter(self._reactions_per_minute, 60)
        return limiter

    async def _react(self, ref: MessageRef, emoji: str) -> None:
        try:
            token = await self._tokens.bot_token(ref.place.workspace)
            await self._reaction_limiter(ref.place.workspace).acquire()
            await self._client.reactions_add(channel=ref.place.channel, timestamp=ref.message_id, name=emoji, token=token)
        except SlackApiError as exc:
            if exc.response.get("error") != "already_reacted":
                log.warning("reaction %s on %s failed: %s", emoji, ref.message_id, exc.response.get("error"))
        except Exception:  # noqa: BLE001 - a lost reaction must never surface as a failed answer
            log.warning("reaction %s on %s failed", emoji, ref.message_id, exc_info=True)
