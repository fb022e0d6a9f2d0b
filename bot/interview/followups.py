"""Follow-up questions on what an answer left out, and how a follow-up answer is graded.

A criterion is "heavy" when its weight equals the rubric's largest weight. When a heavy
criterion is missed outright and the bank has an authored follow-up for it, the interviewer
asks it (at most two per question, heaviest first, in rubric order).

A follow-up answer is graded against just that criterion: a copy of the question whose rubric
is that one criterion, queued under the id `<question id>~<criterion id>`. `FollowUpBank`
resolves such ids, so every grader (offline, LLM, composite) and the ordinary grading queue
handle follow-ups without knowing about interviews.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.interview.state import FollowUpTurn
from content.loader import QuestionBank
from content.schema import Question

MAX_FOLLOW_UPS = 2
SEPARATOR = "~"  # never part of a question id (ids are slugs), so derived ids cannot collide
QUESTION_ID_LIMIT = 100  # answers.question_id column width


def heavy_criteria(question: Question) -> list[str]:
    if not question.rubric:
        return []
    top = max(c.weight for c in question.rubric)
    return [c.id for c in question.rubric if c.weight >= top]


def plan_follow_ups(question: Question, verdicts: dict[str, str], limit: int = MAX_FOLLOW_UPS) -> list[FollowUpTurn]:
    """Authored follow-ups for the heavy criteria the answer missed."""
    heavy = set(heavy_criteria(question))
    total = question.total_weight
    planned: list[FollowUpTurn] = []
    for criterion in sorted(question.rubric, key=lambda c: -c.weight):
        if criterion.id not in heavy or verdicts.get(criterion.id) != "missed":
            continue
        authored = next((f for f in question.follow_ups if f.criterion == criterion.id), None)
        if authored is None:
            continue
        planned.append(FollowUpTurn(criterion.id, authored.ask, criterion.weight / total))
        if len(planned) >= limit:
            break
    return planned


def follow_up_question_id(question_id: str, criterion_id: str) -> str:
    """The id a follow-up answer is queued under; the plain question id if that would not fit."""
    derived = f"{question_id}{SEPARATOR}{criterion_id}"
    # A too-long id falls back to the whole question: the criterion's verdict is read either way.
    return derived if len(derived) <= QUESTION_ID_LIMIT else question_id


def follow_up_question(question: Question, criterion_id: str) -> Question | None:
    """The question a follow-up answer is graded against: just the one criterion."""
    criterion = question.criterion(criterion_id)
    if criterion is None:
        return None
    ask = next((f.ask for f in question.follow_ups if f.criterion == criterion_id), criterion.description)
    # model_copy skips validation on purpose: the derived id contains the separator.
    return question.model_copy(
        update={
            "id": follow_up_question_id(question.id, criterion_id),
            "title": f"{question.title} (follow-up)",
            "prompt": f"{ask}\n\n(Follow-up to: {question.prompt.strip()})",
            "rubric": [criterion],
            "follow_ups": [],
            "hints": [],
        }
    )


@dataclass(frozen=True)
class FollowUpBank(QuestionBank):
    """The bank, plus derived follow-up questions resolvable by id (never listed in `all()`)."""

    @classmethod
    def wrap(cls, bank: QuestionBank) -> FollowUpBank:
        if isinstance(bank, FollowUpBank):
            return bank
        return cls(questions=bank.questions, sources=bank.sources)

    def get(self, question_id: str) -> Question | None:
        found = self.questions.get(question_id)
        if found is not None or SEPARATOR not in question_id:
            return found
        parent_id, criterion_id = question_id.split(SEPARATOR, 1)
        parent = self.questions.get(parent_id)
        return follow_up_question(parent, criterion_id) if parent is not None else None
