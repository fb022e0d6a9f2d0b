"""`Team`: a RepBot on the fake chat with people who answer, so tests read like a conversation.

post = await team.post_today()
await team.answer("alice", "I would send 1% of traffic ...")
await team.grade()
assert "/10" in team.chat.private_to("alice")[-1].text()
"""

from __future__ import annotations

import itertools
from typing import Any

from bot.app import RepBot
from bot.clock import FrozenClock
from bot.commands import Reply
from bot.config import Settings
from bot.daily import Posted, schedule_of
from bot.events import AnswerDeleted, AnswerEdited, AnswerPosted, CommandInvoked, MessageRef, Person, Place
from bot.intake import IntakeResult
from bot.ports import Grader
from content.loader import QuestionBank
from storage.models import Channel
from tests.fake_chat import FakeChat

PLACE = Place("test", "T1", "C1")
# The team channel every conversation test runs in (core, Slack and Discord rigs alike): posts at
# 09:00 Berlin, open 8 hours, graded as soon as answered.
TEAM_SETTINGS: dict[str, Any] = {
    "timezone": "Europe/Berlin",
    "post_time": "09:00",
    "quiet_period_seconds": 0,
    "answer_window_hours": 8,
    "grading_poll_seconds": 0.05,
}


class Team:
    def __init__(self, bot: RepBot, chat: FakeChat, clock: FrozenClock, channel_id: int):
        self.bot = bot
        self.chat = chat
        self.clock = clock
        self.channel_id = channel_id
        self.place = PLACE
        self.thread: str | None = None
        self._ids = itertools.count(1)

    @classmethod
    async def create(
        cls, db_url: str, bank: QuestionBank, clock: FrozenClock, chat: FakeChat, grader: Grader | None = None, **overrides: Any
    ) -> Team:
        values: dict[str, Any] = {"database_url": db_url, **TEAM_SETTINGS, **overrides}
        bot = RepBot(Settings(**values), chat, clock=clock, bank=bank, grader=grader)
        await bot.prepare()
        channel = await bot.daily.ensure_channel(PLACE, "team")
        return cls(bot, chat, clock, channel.id)

    async def close(self) -> None:
        await self.bot.stop()

    def person(self, name: str) -> Person:
        return Person(PLACE.platform, PLACE.workspace, name, name.title())

    async def channel(self) -> Channel:
        async with self.bot.sessions() as session:
            channel = await session.get(Channel, self.channel_id)
            assert channel is not None
            return channel

    async def post_today(self, question_id: str | None = "test-canary") -> Posted | None:
        """Today's scheduled post (the canary question unless told otherwise; None = let the bot pick)."""
        channel = await self.channel()
        day = schedule_of(channel).local_day(self.clock.now())
        posted = await self.bot.daily.post_daily(self.channel_id, day, question_id)
        if posted is not None:
            self.thread = posted.ref.thread_id
        return posted

    async def answer(
        self, name: str, text: str, *, source_id: str | None = None, thread: str | None = None, private: bool = False
    ) -> IntakeResult:
        source = source_id or f"msg-{next(self._ids)}"
        ref = MessageRef(PLACE, source, thread or self.thread)
        return await self.bot.handle(AnswerPosted(self.person(name), text, source, ref, private=private))

    async def receive(self, name: str, text: str, *, source_id: str | None = None, thread: str | None = None) -> bool:
        """An answer through the inbox, as the Slack adapter sends it: held now, filed by `file`."""
        source = source_id or f"msg-{next(self._ids)}"
        return await self.bot.receive_answer(
            AnswerPosted(self.person(name), text, source, MessageRef(PLACE, source, thread or self.thread))
        )

    async def file(self) -> None:
        """What the inbox task does moments after answers arrive."""
        await self.bot.inbox.drain()

    async def edit(self, name: str, source_id: str, text: str) -> IntakeResult:
        return await self.bot.handle(AnswerEdited(self.person(name), text, source_id))

    async def delete(self, name: str, source_id: str) -> IntakeResult:
        return await self.bot.handle(AnswerDeleted(self.person(name), source_id))

    async def grade(self) -> None:
        await self.bot.worker.run_until_idle()

    async def command(self, name: str, command: str, *args: str, admin: bool = False) -> Reply:
        return await self.bot.handle(CommandInvoked(PLACE, self.person(name), command, tuple(args), is_admin=admin))
