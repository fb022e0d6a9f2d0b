"""What every platform adapter provides: a Chat implementation and a start/stop lifecycle.

An adapter translates platform events into the core's neutral events (bot/events.py), passes
them to `RepBot.handle`, and renders what comes back (a `Reply`, or messages sent through its
Chat). It holds no business rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from bot.ports import Chat

if TYPE_CHECKING:
    from bot.app import RepBot


class PlatformAdapter(Protocol):
    platform: str  # the `Place.platform` / `Person.platform` value this adapter owns

    @property
    def chat(self) -> Chat: ...

    async def start(self, bot: RepBot) -> None:
        """Connect and begin delivering events to `bot.handle`; returns once connected."""
        ...

    async def stop(self) -> None: ...
