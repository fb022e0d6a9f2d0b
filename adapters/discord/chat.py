"""The core's Chat port on Discord: posts with a thread, thread replies, private replies, DMs.

Private replies (`only_to`) go to the person's pending interaction as an ephemeral follow-up
when they answered through the modal in that channel within the token's lifetime, else by DM;
if their DMs are closed, a content-free note in the thread tells them where to look instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import discord

from adapters.discord.endpoints import Endpoints
from adapters.discord.events import DM_WORKSPACE, PLATFORM
from adapters.discord.render import Outgoing, button_view, escape, fit, render, render_single
from adapters.plain_text import clean
from bot.events import MessageRef, Person, Place
from bot.messages import Message

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
THREAD_NAME_LIMIT = 100
THREAD_ARCHIVE_MINUTES = 1440
# Interaction tokens live 15 minutes; stop using one a little before that.
FOLLOWUP_WINDOW_SECONDS = 14 * 60

EMOJI = {"eyes": "👀", "white_check_mark": "✅", "heavy_check_mark": "✔️", "x": "❌", "hourglass": "⏳"}


@dataclass(slots=True)
class _Pending:
    interaction: discord.Interaction
    expires: float


class PendingInteractions:
    """The latest answer interaction per (person, channel), for ephemeral follow-ups."""

    def __init__(self, window: float = FOLLOWUP_WINDOW_SECONDS):
        self._window = window
        self._items: dict[tuple[str, str], _Pending] = {}

    def remember(self, user_id: str, channel_id: str, interaction: discord.Interaction) -> None:
        now = time.monotonic()
        self._items = {k: v for k, v in self._items.items() if v.expires > now}
        self._items[(user_id, channel_id)] = _Pending(interaction, now + self._window)

    def get(self, user_id: str, channel_id: str) -> discord.Interaction | None:
        item = self._items.get((user_id, channel_id))
        if item is None or item.expires <= time.monotonic():
            return None
        return item.interaction

    def forget(self, user_id: str, channel_id: str) -> None:
        self._items.pop((user_id, channel_id), None)


def emoji_for(name: str) -> str:
    return EMOJI.get(name.strip(":"), name)


def send_kwargs(out: Outgoing) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"allowed_mentions": NO_MENTIONS}
    if out.content is not None:
        kwargs["content"] = out.content
    if out.embeds:
        kwargs["embeds"] = out.embeds
    if out.files:
        kwargs["files"] = [spec.to_file() for spec in out.files]
    view = button_view(out.buttons)
    if view is not None:
        kwargs["view"] = view
    return kwargs


def message_channel_id(ref: MessageRef) -> int:
    """The channel a referenced message lives in: a thread reply lives in the thread; a post (whose
    id equals its thread's id on Discord) lives in the parent channel."""
    if ref.thread_id and ref.thread_id != ref.message_id:
        return int(ref.thread_id)
    return int(ref.place.channel)


class DiscordChat:
    def __init__(self, client: discord.Client, endpoints: Endpoints, pending: PendingInteractions | None = None):
        self._client = client
        self._endpoints = endpoints
        self.pending = pending or PendingInteractions()

    async def _channel(self, channel_id: int) -> discord.abc.Messageable:
        channel = self._client.get_channel(channel_id)
        if channel is None:
            channel = await self._client.fetch_channel(channel_id)
        assert isinstance(channel, discord.abc.Messageable), f"channel {channel_id} cannot take messages"
        return channel

    @staticmethod
    async def send_all(target: discord.abc.Messageable, outs: Sequence[Outgoing]) -> list[discord.Message]:
        return [await target.send(**send_kwargs(out)) for out in outs]

    async def post(self, place: Place, message: Message) -> MessageRef:
        channel = await self._channel(int(place.channel))
        sent = await self.send_all(channel, render(message))
        first = sent[0]
        name = fit(clean(message.summary or message.text().split("\n", 1)[0]) or "RepBot", THREAD_NAME_LIMIT)
        try:
            thread = await first.create_thread(name=name, auto_archive_duration=THREAD_ARCHIVE_MINUTES)
            thread_id = str(thread.id)
        except discord.HTTPException:
            # The post is out; failing here would make the core post it again. Discord gives a thread
            # the id of its starter message, so the ref stays right once someone fixes the permission.
            log.error(
                "could not create a thread on message %s in channel %s: check Create Public Threads", first.id, place.channel
            )
            thread_id = str(first.id)
        return MessageRef(place, str(first.id), thread_id)

    async def reply(self, thread: MessageRef, message: Message, only_to: Person | None = None) -> MessageRef | None:
        if only_to is not None:
            return await self._private(thread, message, only_to)
        channel = await self._channel(int(thread.thread_id or thread.message_id))
        sent = await self.send_all(channel, render(message))
        return MessageRef(thread.place, str(sent[0].id), thread.thread_id or thread.message_id)

    async def _private(self, thread: MessageRef, message: Message, person: Person) -> MessageRef | None:
        interaction = self.pending.get(person.user_id, thread.place.channel)
        if interaction is not None:
            try:
                sent = await self.followup(interaction, render(message), ephemeral=True)
                return MessageRef(thread.place, str(sent[0].id), thread.thread_id) if sent else None
            except discord.HTTPException:
                self.pending.forget(person.user_id, thread.place.channel)
                log.info("follow-up for %s expired; sending a DM instead", person.user_id)
        try:
            return await self.dm(person, message)
        except discord.Forbidden:
            note = f"{escape(person.name)}: I could not send you a direct message. Allow DMs from server members, or answer with the Answer privately button to get feedback here."
            channel = await self._channel(int(thread.thread_id or thread.message_id))
            await channel.send(content=fit(note, 2000), allowed_mentions=NO_MENTIONS)
            return None

    async def followup(
        self, interaction: discord.Interaction, outs: Sequence[Outgoing], *, ephemeral: bool
    ) -> list[discord.Message]:
        """Send an interaction follow-up (works from any task: the endpoint override is applied here)."""
        sent: list[discord.Message] = []
        with self._endpoints.interactions():
            for out in outs:
                sent.append(await interaction.followup.send(**send_kwargs(out), ephemeral=ephemeral, wait=True))
        return sent

    async def dm(self, person: Person, message: Message) -> MessageRef | None:
        user_id = int(person.user_id)
        user = self._client.get_user(user_id) or await self._client.fetch_user(user_id)
        channel = user.dm_channel or await user.create_dm()
        sent = await self.send_all(channel, render(message))
        return MessageRef(Place(PLATFORM, DM_WORKSPACE, str(channel.id), is_dm=True), str(sent[0].id), None)

    def _partial(self, ref: MessageRef) -> discord.PartialMessage:
        channel = self._client.get_partial_messageable(message_channel_id(ref))
        return channel.get_partial_message(int(ref.message_id))

    async def react(self, ref: MessageRef, emoji: str) -> None:
        await self._partial(ref).add_reaction(emoji_for(emoji))

    async def update(self, ref: MessageRef, message: Message) -> None:
        out = render_single(message)
        await self._partial(ref).edit(
            content=out.content,
            embeds=out.embeds,
            view=button_view(out.buttons),
            attachments=[spec.to_file() for spec in out.files],
            allowed_mentions=NO_MENTIONS,
        )
