"""An in-memory Chat for core tests: every message the bot sends becomes a transcript line."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from bot.events import MessageRef, Person, Place
from bot.messages import Message


@dataclass(frozen=True)
class Said:
    kind: str  # post | reply | dm | react | update
    place: Place
    message: Message | None
    thread: str | None = None
    only_to: Person | None = None
    to: Person | None = None
    emoji: str | None = None
    ref: str | None = None

    def text(self) -> str:
        return self.message.text() if self.message else f":{self.emoji}:"

    @property
    def tags(self) -> frozenset[str]:
        return self.message.tags if self.message else frozenset()


@dataclass
class FakeChat:
    transcript: list[Said] = field(default_factory=list)
    fail_posts: int = 0  # make the next N posts raise (platform outage)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1000))

    def _ref(self) -> str:
        return f"m{next(self._ids)}"

    async def post(self, place: Place, message: Message) -> MessageRef:
        if self.fail_posts:
            self.fail_posts -= 1
            raise ConnectionError("chat platform unavailable")
        ref = self._ref()
        self.transcript.append(Said("post", place, message, thread=ref, ref=ref))
        return MessageRef(place, ref, ref)

    async def reply(self, thread: MessageRef, message: Message, only_to: Person | None = None) -> MessageRef | None:
        ref = self._ref()
        self.transcript.append(Said("reply", thread.place, message, thread=thread.thread_id, only_to=only_to, ref=ref))
        return MessageRef(thread.place, ref, thread.thread_id)

    async def dm(self, person: Person, message: Message) -> MessageRef | None:
        ref = self._ref()
        place = Place(person.platform, person.workspace, f"dm-{person.user_id}", is_dm=True)
        self.transcript.append(Said("dm", place, message, to=person, ref=ref))
        return MessageRef(place, ref, None)

    async def react(self, ref: MessageRef, emoji: str) -> None:
        self.transcript.append(Said("react", ref.place, None, thread=ref.thread_id, emoji=emoji, ref=ref.message_id))

    async def update(self, ref: MessageRef, message: Message) -> None:
        self.transcript.append(Said("update", ref.place, message, ref=ref.message_id))

    # -- reading the transcript -----------------------------------------------------------

    def of(self, tag: str) -> list[Said]:
        return [s for s in self.transcript if tag in s.tags]

    def private_to(self, user_id: str) -> list[Said]:
        return [s for s in self.transcript if (s.only_to and s.only_to.user_id == user_id) or (s.to and s.to.user_id == user_id)]

    def posts(self) -> list[Said]:
        return [s for s in self.transcript if s.kind == "post"]

    def reactions(self) -> list[Said]:
        return [s for s in self.transcript if s.kind == "react"]
