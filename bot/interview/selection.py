"""Choosing an interview's questions: pure, seeded, table-testable.

Order of preference: questions due for review (review sessions only), then questions the
person has not seen recently, then the requested difficulty (widening to the nearest levels
when the bank runs short), then variety: a mixed interview rotates through the formats and
every interview avoids repeating a category while it can.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence

from content.schema import Difficulty, Format, Question

MIXED = "mixed"
# The rotation of a mixed interview: the interview rounds first, plain concept questions last.
MIXED_ROTATION = (
    Format.PIPELINE_DESIGN.value,
    Format.SCRIPTING.value,
    Format.INCIDENT_PROCESS.value,
    Format.BEHAVIORAL.value,
    Format.CONCEPT.value,
)
FORMATS = (*MIXED_ROTATION[:4], MIXED, Format.CONCEPT.value)
DIFFICULTIES = tuple(d.value for d in Difficulty)


def _formats(question: Question) -> set[str]:
    return {f.value for f in question.formats}


def _distance(question: Question, difficulty: str | None) -> int:
    if difficulty is None:
        return 0
    return abs(DIFFICULTIES.index(question.difficulty.value) - DIFFICULTIES.index(difficulty))


def choose_questions(
    questions: Sequence[Question],
    *,
    fmt: str,
    difficulty: str | None,
    count: int,
    recent: Collection[str] = (),
    first: Sequence[str] = (),
    seed: int = 0,
) -> list[Question]:
    """`count` questions for an interview; `first` (review ids) lead, in their order."""
    by_id = {q.id: q for q in questions}
    chosen: list[Question] = []
    for qid in first:
        if qid in by_id and by_id[qid] not in chosen and len(chosen) < count:
            chosen.append(by_id[qid])
    rng = random.Random(seed)
    pool = [q for q in questions if q not in chosen and (fmt == MIXED or fmt in _formats(q))]
    rng.shuffle(pool)

    def tier(q: Question) -> tuple[bool, int]:
        return (q.id in recent, _distance(q, difficulty))

    rotation = MIXED_ROTATION if fmt == MIXED else (fmt,)
    while len(chosen) < count and pool:
        best = min(tier(q) for q in pool)
        # Variety is chosen within the best tier only: it never brings back a recent question.
        candidates = [q for q in pool if tier(q) == best]
        wanted = rotation[len(chosen) % len(rotation)]
        used_categories = {q.category for q in chosen}
        pick = (
            next((q for q in candidates if wanted in _formats(q) and q.category not in used_categories), None)
            or next((q for q in candidates if wanted in _formats(q)), None)
            or next((q for q in candidates if q.category not in used_categories), None)
            or candidates[0]
        )
        chosen.append(pick)
        pool.remove(pick)
    return chosen
