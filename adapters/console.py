"""The console adapter: a terminal channel for trying RepBot without any chat account.

What you type is your answer (a blank line or end of input sends it); lines starting with
`/` are commands. Piped input works too, and the process exits 0 at end of input.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import uuid
from dataclasses import dataclass, field
from typing import TextIO

from adapters.plain_text import clean, render
from bot.app import RepBot
from bot.commands import Reply
from bot.events import AnswerPosted, CommandInvoked, DirectMessage, MessageRef, Person, Place
from bot.messages import Message

PLATFORM = "console"
PLACE = Place(PLATFORM, "local", "console")

CONSOLE_HELP = (
    "Type your answer, then an empty line to send it. Commands: /help /question /leaderboard [week|month|all] "
    "/stats /reveal /next /as NAME /quit. /interview [format] [difficulty] [n] starts a mock interview: "
    "then your lines go to it (hint, skip, repeat, pause, resume, end on a line of their own) until its scorecard."
)


@dataclass
class ConsoleChat:
    """Chat port for a terminal: every message is printed; refs are sequence numbers."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def _print(self, text: str) -> None:
        self.out.write(clean(text) + "\n\n")
        self.out.flush()

    async def post(self, place: Place, message: Message) -> MessageRef:
        ref = str(next(self._ids))
        self._print(render(message))
        return MessageRef(place, ref, ref)

    async def reply(self, thread: MessageRef, message: Message, only_to: Person | None = None) -> MessageRef | None:
        prefix = f"(only visible to {only_to.name})\n" if only_to else ""
        self._print(prefix + render(message))
        return MessageRef(thread.place, str(next(self._ids)), thread.thread_id)

    async def dm(self, person: Person, message: Message) -> MessageRef | None:
        self._print(f"(direct message to {person.name})\n" + render(message))
        return None

    async def react(self, ref: MessageRef, emoji: str) -> None:
        self._print(f"(RepBot reacted :{emoji}: — answer received)")

    async def update(self, ref: MessageRef, message: Message) -> None:
        self._print("(updated)\n" + render(message))


class ConsoleSession:
    """Reads lines, turns them into neutral events, and waits for grades so output stays in order."""

    def __init__(self, bot: RepBot, chat: ConsoleChat, user: str):
        self._bot = bot
        self._chat = chat
        self._person = Person(PLATFORM, "local", user, user)
        self._buffer: list[str] = []
        self._answers = itertools.count(1)
        self._in_interview = False  # DM mode: lines go to the person's mock interview

    async def run(self, stdin: TextIO) -> int:
        self._chat._print(f"RepBot console — answering as {self._person.name}. {CONSOLE_HELP}")
        await self._ensure_question()
        while True:
            line = await asyncio.to_thread(stdin.readline)
            if line == "":
                await self._send_answer()
                return 0
            line = line.rstrip("\n")
            if line.startswith("/"):
                await self._send_answer()
                if not await self._command(line[1:]):
                    return 0
            elif not line.strip():
                await self._send_answer()
            else:
                self._buffer.append(line)

    async def _ensure_question(self) -> None:
        channel = await self._bot.daily.ensure_channel(PLACE, "console")
        if await self._bot.daily.open_post(channel.id) is None:
            await self._bot.daily.post_extra(channel.id)

    async def _send_answer(self) -> None:
        text = "\n".join(self._buffer).strip()
        self._buffer.clear()
        if not text:
            return
        if self._in_interview:
            await self._send_dm(text)
            return
        channel = await self._bot.daily.ensure_channel(PLACE, "console")
        post = await self._bot.daily.open_post(channel.id)
        if post is None:
            self._chat._print("No open question. Type /next for a new one.")
            return
        number = next(self._answers)
        ref = MessageRef(PLACE, f"answer-{number}", post.thread_ref)
        await self._bot.handle(AnswerPosted(self._person, text, f"console:{post.id}:{number}:{self._person.user_id}", ref))
        await self._bot.worker.run_until_idle()

    async def _command(self, line: str) -> bool:
        name, *args = line.split() or ["help"]
        name = name.lower()
        if name in ("quit", "exit"):
            return False
        if name == "as":
            if args:
                who = " ".join(args)[:60]
                self._person = Person(PLATFORM, "local", who, who)
            self._chat._print(f"Now answering as {self._person.name}.")
            return True
        if name == "next":
            channel = await self._bot.daily.ensure_channel(PLACE, "console")
            await self._bot.daily.close_open(channel.id)
            await self._bot.daily.post_extra(channel.id)
            return True
        reply = await self._bot.handle(CommandInvoked(PLACE, self._person, name, tuple(args), is_admin=True))
        if isinstance(reply, Reply):
            self._chat._print(render(reply.message))
        if name == "help":
            self._chat._print(CONSOLE_HELP)
        if name == "interview":
            self._in_interview = await self._bot.interviews.in_interview(self._person)
        return True

    async def _send_dm(self, text: str) -> None:
        """Interview mode: a session command on its own line is its own message; other lines are the answer."""
        words = ("done", "hint", "skip", "repeat", "pause", "resume", "end")
        messages: list[list[str]] = [[]]
        for line in text.splitlines():
            if line.strip().lower() in words:
                messages += [[line.strip()], []]
            else:
                messages[-1].append(line)
        dm = Place(PLATFORM, "local", f"dm-{self._person.user_id}", is_dm=True)
        for lines in messages:
            body = "\n".join(lines).strip()
            if body:
                reply = await self._bot.handle(DirectMessage(self._person, body, f"console-dm:{uuid.uuid4().hex}", dm))
                if isinstance(reply, Reply):
                    self._chat._print(render(reply.message))
        await self._bot.worker.run_until_idle()
        self._in_interview = await self._bot.interviews.in_interview(self._person)
        if not self._in_interview:
            self._chat._print("(Interview over. Lines are answers to the daily question again.)")


async def run_console(bot: RepBot, chat: ConsoleChat, stdin: TextIO, user: str) -> int:
    await bot.start(schedule=False, grade_in_background=False)
    try:
        return await ConsoleSession(bot, chat, user).run(stdin)
    finally:
        await bot.stop()
