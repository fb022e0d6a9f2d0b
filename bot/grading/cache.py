"""Remembering grades so a re-delivered or re-graded answer never pays for a second LLM call.

A key names everything that can change a grade: the question's content hash, the answer
(folded and whitespace-collapsed, so a re-paste with different spacing still hits), the
model and the prompt version. The answer is stored as a digest, not as text.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from bot.grading.model import Grade
from bot.grading.text import fold


def normalise_answer(text: str) -> str:
    """Folded (case, homoglyphs, invisible characters) with whitespace runs collapsed."""
    return " ".join(fold(text).split())


@dataclass(frozen=True, slots=True)
class GradeKey:
    question_version: str
    answer_digest: str
    model: str
    prompt_version: str

    @classmethod
    def build(cls, question_version: str, answer_text: str, model: str, prompt_version: str) -> GradeKey:
        digest = hashlib.sha256(normalise_answer(answer_text).encode("utf-8")).hexdigest()
        return cls(question_version, digest, model, prompt_version)


class GradeCache(Protocol):
    """Async so a database-backed cache can implement it too."""

    async def get(self, key: GradeKey) -> Grade | None: ...

    async def put(self, key: GradeKey, grade: Grade) -> None: ...


class InMemoryGradeCache:
    """Least-recently-used cache of at most `max_entries` grades, for one process."""

    def __init__(self, max_entries: int = 2048):
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max = max_entries
        self._entries: OrderedDict[GradeKey, Grade] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: GradeKey) -> Grade | None:
        grade = self._entries.get(key)
        if grade is not None:
            self._entries.move_to_end(key)
        return grade

    async def put(self, key: GradeKey, grade: Grade) -> None:
        self._entries[key] = grade
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
