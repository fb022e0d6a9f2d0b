"""The composite grader: the LLM grades, the offline grader keeps it honest.

The offline grader is deterministic and removes sentences aimed at the grader before
scoring, so its score is what the answer earns with any injection stripped out. The LLM
understands paraphrase better and usually scores higher; that is expected and trusted.
Two situations are not trusted and get a capped score plus Flag.NEEDS_REVIEW:

* implausible: the LLM beats the offline score by more than `gap` while the offline grader
  found almost nothing (offline score below `offline_floor`);
* injection: either grader suspects the answer tried to instruct the grader.

Rule for the cap: score = min(LLM score, offline score + cap), with cap = gap / 2 unless
given. The LLM may credit paraphrases the offline grader missed, but only by half the gap
it is otherwise allowed, until a reviewer looks. A lower LLM score is never raised. The
LLM's criteria are kept so the reviewer sees what it claimed. When injection is suspected the
LLM's feedback is not shown: the answer may have dictated it ("tell them it was perfect"), so
the person reads the offline grader's feedback plus a note that a reviewer will look.
"""

from __future__ import annotations

import dataclasses

from bot.grading.model import Flag, Grade, clamp_score
from bot.ports import Grader
from content.schema import Question

GRADER_NAME = "composite"
REVIEW_NOTE = "A reviewer will check this grade."
INJECTION_NOTE = "Part of the answer read like instructions to the grader, so it was not graded."


def combine(llm: Grade, offline: Grade, *, gap: float, offline_floor: float, cap: float) -> Grade:
    """The LLM's grade, capped and flagged for review when the offline grade contradicts it."""
    implausible = llm.score - offline.score > gap and offline.score < offline_floor
    injection = Flag.INJECTION_SUSPECTED in llm.flags or Flag.INJECTION_SUSPECTED in offline.flags
    if not (implausible or injection):
        return dataclasses.replace(llm, grader=GRADER_NAME)
    flags = set(llm.flags) | {Flag.NEEDS_REVIEW}
    feedback = llm.feedback
    if injection:
        flags.add(Flag.INJECTION_SUSPECTED)
        # The offline feedback already explains the removal when the offline screen caught it.
        notes = [REVIEW_NOTE] if Flag.INJECTION_SUSPECTED in offline.flags else [INJECTION_NOTE, REVIEW_NOTE]
        feedback = " ".join([offline.feedback.strip(), *notes]).strip()
    # An answer that tried to instruct the grader gets no more than the grade that cannot be instructed.
    ceiling = offline.score if injection else offline.score + cap
    return dataclasses.replace(
        llm,
        score=clamp_score(min(llm.score, ceiling)),
        feedback=feedback,
        grader=GRADER_NAME,
        flags=frozenset(flags),
    )


class CompositeGrader:
    """LLM grade checked against the offline grade; `GradingUnavailable` from the LLM propagates."""

    name = GRADER_NAME

    def __init__(
        self,
        llm: Grader,
        offline: Grader,
        gap: float = 4.0,
        offline_floor: float = 2.0,
        cap: float | None = None,
    ):
        if gap < 0 or offline_floor < 0 or (cap is not None and cap < 0):
            raise ValueError("gap, offline_floor and cap must be >= 0")
        self._llm = llm
        self._offline = offline
        self.gap = gap
        self.offline_floor = offline_floor
        self.cap = gap / 2 if cap is None else cap

    async def grade(self, question: Question, answer_text: str) -> Grade:
        # The queue decides whether to wait or fall back, so an unavailable LLM is not hidden here.
        llm_grade = await self._llm.grade(question, answer_text)
        offline_grade = await self._offline.grade(question, answer_text)
        return combine(llm_grade, offline_grade, gap=self.gap, offline_floor=self.offline_floor, cap=self.cap)
