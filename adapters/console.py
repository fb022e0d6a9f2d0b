"""The console adapter: a terminal channel for trying RepBot without any chat account.

What you type is your answer (a blank line or end of input sends it); lines starting with
`/` are commands. Piped input works too, and the process exits 0 at end of input. With a
terminal attached, lines are read through GNU readline (line editing, history, Ctrl-L).
The console channel runs on its schedule like any channel: the daily post, the reveal and
the weekly recap happen while the console is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import itertools
import signal
import sys
import threading
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from adapters.plain_text import clean, render
from bot.app import RepBot
from bot.commands import Reply
from bot.events import (
    AnswerPosted,
    ButtonPressed,
    CommandInvoked,
    DirectMessage,
    MessageRef,
    ModalSubmitted,
    Person,
    Place,
)
from bot.interview.service import SESSION_COMMANDS
from bot.messages import Attachment, Buttons, Context, Image, Message
from bot.views import ANSWER_PRIVATELY, HINT, HOW_TO_ANSWER, SKIP, question_message

PLATFORM = "console"
PLACE = Place(PLATFORM, "local", "console")
NAME_LIMIT = 60
EMPTY_INPUT = (
    "repbot: no chat platform is configured (SLACK_BOT_TOKEN, DISCORD_TOKEN) and standard input is empty, "
    "so there is nothing to do; set a token, or run it in a terminal or with input piped in"
)

CONSOLE_HELP = (
    "Type your answer, then an empty line to send it. Commands: /help /question [ID] /leaderboard [week|month|all] "
    "/stats /hint /skip /private /reveal /next [ID] /recap /export [csv|json] /as NAME /quit. "
    "/interview [format] [difficulty] [n] starts a mock interview: then your lines go to it until its scorecard; "
    "an answer may take several messages until `done` (or a quiet pause); hint, skip, repeat, pause, resume, end "
    "act at once on a line of their own."
)
# Platform buttons become commands here: a terminal has nothing to press.
BUTTON_COMMANDS = {ANSWER_PRIVATELY: "/private", HINT: "/hint", SKIP: "/skip"}


def console_message(message: Message) -> Message:
    """The message as a terminal shows it: buttons as the commands that do the same; files as
    the path they were written to (ConsoleChat.show)."""
    blocks = []
    for block in message.blocks:
        if isinstance(block, Buttons):
            commands = [f"{BUTTON_COMMANDS[b.action]} ({b.label.lower()})" for b in block.buttons if b.action in BUTTON_COMMANDS]
            if commands:
                blocks.append(Context("type your answer and an empty line; " + ", ".join(commands)))
        elif isinstance(block, Attachment):
            continue  # written to a file, and the line saying where replaces it
        elif isinstance(block, Context) and HOW_TO_ANSWER in block.text:
            blocks.append(Context(block.text.replace(f" · {HOW_TO_ANSWER}", "").replace(HOW_TO_ANSWER, "")))
        else:
            blocks.append(block)
    return dataclasses.replace(message, blocks=tuple(blocks))


def person_name(raw: str) -> str | None:
    """A `/as` name as one person: `@alice` is alice, case does not make a new person, and
    invisible characters are dropped. None when nothing visible is left."""
    text = unicodedata.normalize("NFKC", raw)
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] not in ("C", "Z") or ch == " ")
    text = " ".join(text.split()).lstrip("@").strip()
    return text[:NAME_LIMIT] or None


def person_id(name: str) -> str:
    return name.casefold()


@dataclass
class ConsoleChat:
    """Chat port for a terminal: every message is printed; refs are sequence numbers. Files
    (exports, recap charts) are written to `files_dir`, and the printed line says where."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    files_dir: Path = field(default_factory=Path.cwd)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def _print(self, text: str) -> None:
        self.out.write(clean(text) + "\n\n")
        self.out.flush()

    def show(self, message: Message, prefix: str = "") -> None:
        self._print(prefix + render(console_message(message)))
        for block in message.blocks:
            if isinstance(block, Attachment | Image):
                self._save(block)

    def _save(self, block: Attachment | Image) -> None:
        data = block.data if isinstance(block, Attachment) else block.png
        name = Path(block.filename.replace("\\", "/")).name or "repbot-file"
        path = self.files_dir / name
        stem, suffix = path.stem, path.suffix
        for n in itertools.count(1):  # never overwrite an earlier export
            if not path.exists():
                break
            path = self.files_dir / f"{stem}-{n}{suffix}"
        try:
            path.write_bytes(data)
        except OSError as exc:
            self._print(f"(could not write {path}: {exc.strerror})")
            return
        self._print(f"(wrote {path}, {len(data):,} bytes)")

    async def post(self, place: Place, message: Message) -> MessageRef:
        ref = str(next(self._ids))
        self.show(message)
        return MessageRef(place, ref, ref)

    async def reply(self, thread: MessageRef, message: Message, only_to: Person | None = None) -> MessageRef | None:
        self.show(message, f"(only visible to {only_to.name})\n" if only_to else "")
        return MessageRef(thread.place, str(next(self._ids)), thread.thread_id)

    async def dm(self, person: Person, message: Message) -> MessageRef | None:
        self.show(message, f"(direct message to {person.name})\n")
        return None

    async def react(self, ref: MessageRef, emoji: str) -> None:
        self._print(f"(RepBot reacted :{emoji}: — answer received)")

    async def update(self, ref: MessageRef, message: Message) -> None:
        self.show(message, "(updated)\n")


class LineReader:
    """Standard input, one line per call ("" at end of input). With a terminal attached, GNU
    readline does the reading: arrow keys, history and Ctrl-L work instead of ending up as
    escape codes in an answer. Each read runs in a daemon thread, so waiting can time out (the
    interview's quiet period) and Ctrl-C never waits for a read to finish."""

    def __init__(self, stream: TextIO, prompt: str = "> "):
        self._stream = stream
        self._terminal = _is_terminal(stream)
        self._prompt = prompt
        self._pending: asyncio.Future[str] | None = None
        self._first: str | None = None
        self._saved: list | None = None  # terminal settings to put back (readline changes them)
        if self._terminal:
            with contextlib.suppress(ImportError):  # no readline on this platform: plain input()
                import readline  # noqa: F401 - importing it turns line editing on for input()
            with contextlib.suppress(ImportError, OSError, ValueError):
                import termios

                self._saved = termios.tcgetattr(stream.fileno())

    @property
    def terminal(self) -> bool:
        return self._terminal

    def close(self) -> None:
        """Leave the terminal as we found it: a read interrupted by Ctrl-C (or a quit while a
        read is pending) would otherwise leave it without echo."""
        if self._saved is not None:
            with contextlib.suppress(ImportError, OSError, ValueError):
                import termios

                termios.tcsetattr(self._stream.fileno(), termios.TCSADRAIN, self._saved)

    def push_back(self, line: str) -> None:
        self._first = line

    def _read(self) -> str:
        if self._terminal and self._stream is sys.stdin:
            try:
                return input(self._prompt) + "\n"
            except EOFError:
                return ""
        return self._stream.readline()

    async def read(self, wait: float | None = None) -> str | None:
        """The next line, or None when `wait` seconds passed first (the read goes on)."""
        if self._first is not None:
            line, self._first = self._first, None
            return line
        loop = asyncio.get_running_loop()
        if self._pending is None:
            future: asyncio.Future[str] = loop.create_future()
            self._pending = future

            def work() -> None:
                try:
                    line = self._read()
                except (OSError, ValueError, UnicodeDecodeError):
                    line = ""
                with contextlib.suppress(RuntimeError):  # the loop closed while we read
                    loop.call_soon_threadsafe(lambda: future.done() or future.set_result(line))

            threading.Thread(target=work, name="console-stdin", daemon=True).start()
        try:
            line = await asyncio.wait_for(asyncio.shield(self._pending), wait)
        except TimeoutError:
            return None
        self._pending = None
        return line


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class ConsoleSession:
    """Reads lines, turns them into neutral events, and waits for grades so output stays in order."""

    def __init__(self, bot: RepBot, chat: ConsoleChat, user: str, admins: frozenset[str] = frozenset()):
        self._bot = bot
        self._chat = chat
        self._owner = person_name(user) or "you"
        self._admins = admins
        self._person = self._as(self._owner)
        self._buffer: list[str] = []
        self._answers = itertools.count(1)
        self._in_interview = False  # DM mode: lines go to the person's mock interview
        self._quiet_until: float | None = None  # an interview answer waits for more until then
        self._private = False  # `/private`: the next answer is private
        self._scheduled = False  # the channel's daily job is installed (schedule changes re-install it)

    def _as(self, name: str) -> Person:
        return Person(PLATFORM, PLACE.workspace, person_id(name), name)

    @property
    def _is_admin(self) -> bool:
        """The person at the terminal, and the names listed in REPBOT_ADMINS; not every `/as` name."""
        uid = self._person.user_id
        return uid == person_id(self._owner) or uid in self._admins or f"{PLATFORM}:{uid}" in self._admins

    async def run(self, reader: LineReader, *, first: str | None = None, started: dt.datetime | None = None) -> int:
        """`started`: when the bot started; a question posted before that is shown again."""
        self._chat._print(f"RepBot console — answering as {self._person.name}. {CONSOLE_HELP}")
        await self._start(ask=not _chooses_question(first), started=started)
        if first is not None:
            reader.push_back(first)
        while True:
            line = await reader.read(self._quiet_left())
            if line is None:  # the interview answer went quiet: grade it now
                self._quiet_until = None
                await self._bot.worker.run_until_idle()
                await self._after_dm()
                continue
            if line == "":
                await self._send_answer()
                await self._finish_interview_answer()
                return 0
            line = line.rstrip("\n")
            if self._in_interview and _session_word(line):
                await self._send_answer()
                await self._send_dm(line.strip().lstrip("/"))
            elif line.startswith("/"):
                await self._send_answer()
                if not await self._command(line[1:]):
                    return 0
            elif not line.strip():
                await self._send_answer()
            else:
                self._buffer.append(line)

    def _quiet_left(self) -> float | None:
        if self._quiet_until is None:
            return None
        return max(0.0, self._quiet_until - asyncio.get_running_loop().time())

    async def _channel(self):  # type: ignore[no-untyped-def]
        channel = await self._bot.daily.ensure_channel(PLACE, "console")
        if not self._scheduled:  # a console channel created just now gets its daily post job too
            self._bot.scheduler.sync_channel(channel)
            self._scheduled = True
        return channel

    async def _start(self, *, ask: bool, started: dt.datetime | None) -> None:
        """Pick up where the last run stopped: the open question again (or a new one), an
        interview in progress, grades that were due while the console was closed."""
        channel = await self._channel()
        post = await self._bot.daily.open_post(channel.id)
        if post is not None:
            if started is None or post.posted_at is None or _utc(post.posted_at) < started:
                await self._show_open(post)  # else the scheduler's catch-up just posted (and printed) it
        elif ask:
            await self._bot.daily.post_extra(channel.id)
        await self._bot.worker.run_until_idle()
        await self._check_interview(announce=True)

    async def _show_open(self, post) -> None:  # type: ignore[no-untyped-def]
        channel = await self._channel()
        question = self._bot.bank.get(post.question_id)
        if question is not None:
            self._chat.show(question_message(question, post.id, post.closes_at, channel.timezone, extra=post.slot > 0))

    async def _check_interview(self, *, announce: bool = False) -> None:
        was = self._in_interview
        self._in_interview = await self._bot.interviews.in_interview(self._person)
        if self._in_interview and announce and not was:
            self._chat._print(
                f"({self._person.name} has a mock interview in progress: your lines go to it. "
                "`end` finishes it with a scorecard.)"
            )
            await self._send_dm("repeat")

    async def _send_answer(self) -> None:
        text = "\n".join(self._buffer).strip()
        self._buffer.clear()
        if not text:
            return
        if self._in_interview:
            await self._send_dm(text)
            return
        channel = await self._channel()
        post = await self._bot.daily.open_post(channel.id)
        if post is None:
            self._chat._print("No open question. Type /next for a new one.")
            return
        number = next(self._answers)
        source = f"console:{post.id}:{number}:{self._person.user_id}:{uuid.uuid4().hex[:8]}"
        if self._private:
            self._private = False
            await self._bot.handle(ModalSubmitted(PLACE, self._person, ANSWER_PRIVATELY, str(post.id), text, source))
        else:
            ref = MessageRef(PLACE, f"answer-{number}", post.thread_ref)
            await self._bot.handle(AnswerPosted(self._person, text, source, ref))
        await self._bot.worker.run_until_idle()

    async def _command(self, line: str) -> bool:
        name, *args = line.split() or ["help"]
        name = name.lower()
        if name in ("quit", "exit"):
            return False
        if name == "as":
            return await self._switch(" ".join(args))
        if name == "next":
            return await self._next(args)
        if name in ("hint", "skip", "private"):
            await self._button(name)
            return True
        if name == "question" and not args:
            channel = await self._channel()
            post = await self._bot.daily.open_post(channel.id)
            if post is not None:
                await self._show_open(post)
                return True
        reply = await self._bot.handle(CommandInvoked(PLACE, self._person, name, tuple(args), is_admin=self._is_admin))
        if isinstance(reply, Reply):
            self._chat.show(reply.message)
        if name == "help":
            self._chat._print(CONSOLE_HELP)
        if name == "interview":
            await self._check_interview()
        return True

    async def _switch(self, raw: str) -> bool:
        if raw.strip():
            name = person_name(raw)
            if name is None:
                self._chat._print("That name has no visible characters; try `/as dana`.")
                return True
            self._person = self._as(name)
            self._quiet_until = None
            self._in_interview = False
        self._chat._print(f"Now answering as {self._person.name}.")
        await self._check_interview(announce=True)
        return True

    async def _next(self, args: list[str]) -> bool:
        """Console shortcut: reveal the open question and post another (`/next ID` picks it)."""
        wanted = args[0] if args else None
        if wanted is not None and not self._bot.daily.has_question(wanted):
            self._chat._print(f"There is no question '{wanted[:60]}'. `repbot content list` shows the ids.")
            return True
        channel = await self._channel()
        await self._bot.daily.close_open(channel.id)
        await self._bot.daily.post_extra(channel.id, wanted)
        return True

    async def _button(self, name: str) -> None:
        channel = await self._channel()
        post = await self._bot.daily.open_post(channel.id)
        if post is None:
            self._chat._print("No open question. Type /next for a new one.")
            return
        if name == "private":
            self._private = True
            self._chat._print("Your next answer is private: only you see it and its feedback.")
            return
        action = HINT if name == "hint" else SKIP
        reply = await self._bot.handle(ButtonPressed(PLACE, self._person, action, str(post.id)))
        if isinstance(reply, Reply):
            self._chat.show(reply.message)

    async def _send_dm(self, text: str) -> None:
        """Interview mode: each message joins the current answer until `done` or a quiet pause."""
        dm = Place(PLATFORM, PLACE.workspace, f"dm-{self._person.user_id}", is_dm=True)
        reply = await self._bot.handle(DirectMessage(self._person, text, f"console-dm:{uuid.uuid4().hex}", dm))
        if isinstance(reply, Reply):
            self._chat.show(reply.message)
        word = text.strip().strip(".!").lower()
        if word in SESSION_COMMANDS:
            self._quiet_until = None
            await self._bot.worker.run_until_idle()
        else:
            quiet = self._bot.interviews.quiet_period.total_seconds()
            self._quiet_until = asyncio.get_running_loop().time() + quiet
            if quiet <= 0:
                self._quiet_until = None
                await self._bot.worker.run_until_idle()
        await self._after_dm()

    async def _after_dm(self) -> None:
        self._in_interview = await self._bot.interviews.in_interview(self._person)
        if not self._in_interview:
            self._quiet_until = None
            self._chat._print("(Interview over. Lines are answers to the daily question again.)")

    async def _finish_interview_answer(self) -> None:
        """End of input: an interview answer still open is finished, as `done` would."""
        if self._in_interview and self._quiet_until is not None:
            await self._send_dm("done")


def _utc(when: dt.datetime) -> dt.datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def _session_word(line: str) -> bool:
    return line.strip().strip(".!").lower().lstrip("/") in SESSION_COMMANDS


def _chooses_question(line: str | None) -> bool:
    """A first line `/question ID` or `/next ...` picks the question: no other is posted first."""
    if line is None or not line.startswith("/"):
        return False
    words = line[1:].split()
    return bool(words) and (words[0].lower() == "next" or (words[0].lower() == "question" and len(words) > 1))


async def run_console(
    bot: RepBot, chat: ConsoleChat, stdin: TextIO, user: str, *, err: TextIO | None = None, admins: frozenset[str] = frozenset()
) -> int:
    reader = LineReader(stdin)
    first = None
    await bot.prepare()  # an old schema is refused first, whatever the input
    if not reader.terminal:
        # No terminal and nothing to read (a container without one): say so and fail, instead of
        # exiting 0 and being restarted forever.
        first = await reader.read()
        if first == "":
            (err or sys.stderr).write(EMPTY_INPUT + "\n")
            return 2
    started = bot.clock.now()
    await bot.start(schedule=True, grade_in_background=False)
    session = asyncio.create_task(ConsoleSession(bot, chat, user, admins).run(reader, first=first, started=started))
    loop = asyncio.get_running_loop()
    # While readline waits for a line in its thread, Ctrl-C must still wake the event loop;
    # add_signal_handler does (it sets the loop's wake-up file descriptor).
    interrupt = False
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):

        def on_interrupt() -> None:
            nonlocal interrupt
            interrupt = True
            session.cancel()

        loop.add_signal_handler(signal.SIGINT, on_interrupt)
    try:
        return await session
    except asyncio.CancelledError:
        if not interrupt:
            raise
        return 0  # Ctrl-C is how people leave a terminal program
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGINT)
        reader.close()
        await bot.stop()
