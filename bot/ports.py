"""The ports the core depends on. Adapters implement Chat; graders implement Grader."""

from __future__ import annotations

from typing import Protocol

from bot.events import MessageRef, Person, Place
from bot.grading.model import Grade
from bot.messages import Message
from content.schema import Question


class Chat(Protocol):
    async def post(self, place: Place, message: Message) -> MessageRef:
        """Post a new top-level message; its ref is also the thread root for replies."""
        ...

    async def reply(self, thread: MessageRef, message: Message, only_to: Person | None = None) -> MessageRef | None:
        """Reply in a thread; `only_to` makes it private (ephemeral) to that person."""
        ...

    async def dm(self, person: Person, message: Message) -> MessageRef | None: ...

    async def react(self, ref: MessageRef, emoji: str) -> None: ...

    async def update(self, ref: MessageRef, message: Message) -> None: ...


class Grader(Protocol):
    name: str

    async def grade(self, question: Question, answer_text: str) -> Grade: ...
