"""Helpers for tests that run real bot processes: a Chat that appends to a JSONL file (so the
test can count what every process said), and a way to build a bot in a child process."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

from bot.events import MessageRef, Person, Place
from bot.messages import Message


class FileChat:
    """Every platform call becomes one JSON line, written with O_APPEND (atomic per line)."""

    def __init__(self, path: Path, process: str):
        self._path = path
        self._process = process
        self._ids = itertools.count(1)

    def _write(self, kind: str, place: Place, message: Message | None, **extra: object) -> str:
        ref = f"{self._process}-{next(self._ids)}"
        line = {
            "kind": kind,
            "channel": place.channel,
            "ref": ref,
            "tags": sorted(message.tags) if message else [],
            "process": self._process,
            **extra,
        }
        fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(line) + "\n").encode())
        finally:
            os.close(fd)
        return ref

    async def post(self, place: Place, message: Message) -> MessageRef:
        ref = self._write("post", place, message)
        return MessageRef(place, ref, ref)

    async def reply(self, thread: MessageRef, message: Message, only_to: Person | None = None) -> MessageRef | None:
        ref = self._write("reply", thread.place, message, thread=thread.thread_id, to=only_to.user_id if only_to else None)
        return MessageRef(thread.place, ref, thread.thread_id)

    async def dm(self, person: Person, message: Message) -> MessageRef | None:
        self._write("dm", Place(person.platform, person.workspace, "dm"), message, to=person.user_id)
        return None

    async def react(self, ref: MessageRef, emoji: str) -> None:
        self._write("react", ref.place, None, emoji=emoji)

    async def update(self, ref: MessageRef, message: Message) -> None:
        self._write("update", ref.place, message)


def read_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
