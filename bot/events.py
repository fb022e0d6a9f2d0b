"""Neutral inbound events: what adapters turn platform payloads into.

Identity types are tiny and frozen (errbot-style); every event says where it happened and who
did it, and messages carry a reference so the core can react or reply to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Place:
    """A channel (or a DM conversation) on one platform and workspace/guild."""

    platform: str
    workspace: str
    channel: str
    is_dm: bool = False


@dataclass(frozen=True, slots=True)
class Person:
    platform: str
    workspace: str
    user_id: str
    display_name: str = ""

    @property
    def name(self) -> str:
        return self.display_name or self.user_id


@dataclass(frozen=True, slots=True)
class MessageRef:
    """A message the bot can react to, update or reply under (`thread` = the thread's root id)."""

    place: Place
    message_id: str
    thread_id: str | None = None

    @property
    def root(self) -> MessageRef:
        """The thread root: replies always go under the root, never under a reply."""
        return MessageRef(self.place, self.thread_id or self.message_id, self.thread_id or self.message_id)


@dataclass(frozen=True, slots=True)
class AnswerPosted:
    """Someone wrote in a question's thread (or submitted a private answer)."""

    person: Person
    text: str
    source_id: str  # platform-unique id of the message; the idempotency key
    message: MessageRef  # the person's own message (for reactions); thread_id = post's thread
    private: bool = False


@dataclass(frozen=True, slots=True)
class AnswerEdited:
    person: Person
    text: str
    source_id: str


@dataclass(frozen=True, slots=True)
class AnswerDeleted:
    person: Person | None
    source_id: str


@dataclass(frozen=True, slots=True)
class CommandInvoked:
    """`/repbot <name> <args>` or a console `/name args`."""

    place: Place
    person: Person
    name: str
    args: tuple[str, ...] = ()
    is_admin: bool = False


@dataclass(frozen=True, slots=True)
class DirectMessage:
    person: Person
    text: str
    source_id: str
    place: Place | None = None


@dataclass(frozen=True, slots=True)
class ButtonPressed:
    place: Place
    person: Person
    action: str
    value: str = ""
    message: MessageRef | None = None


@dataclass(frozen=True, slots=True)
class ModalSubmitted:
    """A private answer box was submitted; `value` says what it answered (e.g. a post id)."""

    place: Place
    person: Person
    action: str
    value: str
    text: str
    source_id: str
    extra: dict[str, str] = field(default_factory=dict)
