"""The end-of-interview scorecard, computed from the interview state and the bank (pure).

Averages count graded and skipped questions (a skip scores 0, as it would in a real interview);
questions never answered because the interview ended early are listed but left out.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from bot.interview.followups import heavy_criteria
from bot.interview.state import EndReason, InterviewState, Slot, SlotStatus, parse_time
from content.loader import QuestionBank

STRONG_AT = 7.5  # a category average at or above this is a strength
WEAK_BELOW = 7.0  # below this a question or category goes into the study plan
MAX_STRENGTHS, MAX_GAPS, MAX_WARNINGS, MAX_STUDY = 4, 6, 3, 3


@dataclass(frozen=True, slots=True)
class QuestionLine:
    number: int
    question_id: str
    title: str
    category: str
    status: SlotStatus
    score: float | None
    base: float | None
    recovered: float
    follow_ups: int
    hints: int
    minutes: float | None
    time_limit: int | None
    from_review: bool


@dataclass(frozen=True, slots=True)
class Scorecard:
    format: str
    reason: EndReason
    lines: tuple[QuestionLine, ...]
    average: float | None
    categories: tuple[tuple[str, float], ...]
    strengths: tuple[str, ...]
    gaps: tuple[str, ...]
    warnings: tuple[str, ...]
    study: tuple[str, ...]
    earlier: tuple[float, ...]  # averages of the person's earlier interviews, oldest first

    @property
    def partial(self) -> bool:
        return self.reason is not EndReason.COMPLETED or any(not line_counted(x) for x in self.lines)

    @property
    def change(self) -> float | None:
        """This interview's average minus the previous one's."""
        if self.average is None or not self.earlier:
            return None
        return round(self.average - self.earlier[-1], 1)


def line_counted(line: QuestionLine) -> bool:
    return line.status in (SlotStatus.GRADED, SlotStatus.SKIPPED)


def bar(score: float, width: int = 10) -> str:
    filled = max(0, min(width, round(score / 10 * width)))
    return "█" * filled + "░" * (width - filled)


def minutes_taken(slot: Slot) -> float | None:
    """Minutes from asking a slot's question to its answer (None until answered)."""
    asked, answered = parse_time(slot.asked_at), parse_time(slot.answered_at)
    if asked is None or answered is None:
        return None
    return round(max(dt.timedelta(0), answered - asked).total_seconds() / 60, 1)


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def build_scorecard(state: InterviewState, bank: QuestionBank, earlier: Sequence[float] = ()) -> Scorecard:
    lines: list[QuestionLine] = []
    by_category: dict[str, list[float]] = defaultdict(list)
    strengths: list[str] = []
    gaps: list[str] = []
    warnings: list[str] = []
    weak_ids: dict[str, list[str]] = defaultdict(list)
    for number, slot in enumerate(state.slots, 1):
        question = bank.get(slot.question_id)
        lines.append(
            QuestionLine(
                number=number,
                question_id=slot.question_id,
                title=slot.title,
                category=slot.category,
                status=slot.status,
                score=slot.score,
                base=slot.base_score,
                recovered=slot.recovered,
                follow_ups=sum(1 for f in slot.follow_ups if f.answer_id is not None or f.verdict is not None),
                hints=slot.hints_used,
                minutes=minutes_taken(slot),
                time_limit=question.time_limit_minutes if question else None,
                from_review=slot.from_review,
            )
        )
        if not slot.counted or slot.score is None:
            continue
        by_category[slot.category].append(slot.score)
        if slot.score < WEAK_BELOW:
            weak_ids[slot.category].append(slot.question_id)
            if question is not None:
                warnings += [m for m in question.common_mistakes[:1] if m not in warnings]
        if slot.status is SlotStatus.SKIPPED:
            gaps.append(f"Skipped: {slot.title}")
            continue
        if question is None:
            continue
        heavy = set(heavy_criteria(question))
        recovered = {f.criterion: f.verdict for f in slot.follow_ups}
        for criterion in question.rubric:
            verdict = slot.verdicts.get(criterion.id)
            name = criterion.description.strip().rstrip(".")
            if verdict == "hit" and criterion.id in heavy:
                strengths.append(f"{name} ({slot.title})")
            elif verdict == "missed" and recovered.get(criterion.id) != "hit":
                suffix = " — partly recovered in the follow-up" if recovered.get(criterion.id) == "partial" else ""
                gaps.append(f"{name} ({slot.title}){suffix}")
    categories = tuple(sorted((c, _mean(s) or 0.0) for c, s in by_category.items()))
    strong = [f"{c}: {avg:.1f}/10" for c, avg in categories if avg >= STRONG_AT]
    study = [
        f"{c} ({avg:.1f}/10): review {', '.join(weak_ids[c])}"
        for c, avg in sorted(categories, key=lambda pair: pair[1])
        if avg < WEAK_BELOW and weak_ids[c]
    ]
    scores = [s for values in by_category.values() for s in values]
    return Scorecard(
        format=state.format,
        reason=state.end_reason or EndReason.COMPLETED,
        lines=tuple(lines),
        average=_mean(scores),
        categories=categories,
        strengths=tuple((strong + strengths)[:MAX_STRENGTHS]),
        gaps=tuple(gaps[:MAX_GAPS]),
        warnings=tuple(warnings[:MAX_WARNINGS]),
        study=tuple(study[:MAX_STUDY]),
        earlier=tuple(earlier),
    )
