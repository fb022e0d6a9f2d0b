"""One Chat over several platforms: each call goes to the adapter that owns the place."""

from __future__ import annotations

from collections.abc import Mapping

from bot.events import MessageRef, Person, Place
from bot.messages import Message
from bot.ports import Chat


class ChatRouter:
    def __init__(self, chats: Mapping[str, Chat]):
        self._chats = dict(chats)

    def _for(self, platform: str) -> Chat:
        try:
            return self._chats[platform]
        except KeyError:
            raise LookupError(f"no adapter for platform '{platform}'") from None

    async def post(self, place: Place, message: Message) -> MessageRef:
        return await self._for(place.platform).post(place, message)

    async def reply(self, thread: MessageRef, message: Message, only_to: Person | None = None) -> MessageRef | None:
        return await self._for(thread.place.platform).reply(thread, message, only_to)

    async def dm(self, person: Person, message: Message) -> MessageRef | None:
        return await self._for(person.platform).dm(person, message)

    async def react(self, ref: MessageRef, emoji: str) -> None:
        await self._for(ref.place.platform).react(ref, emoji)

    async def update(self, ref: MessageRef, message: Message) -> None:
        await self._for(ref.place.platform).update(ref, message)
