"""What a grader returns: a score, per-criterion verdicts with evidence, and feedback."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Verdict(StrEnum):
    HIT = "hit"
    PARTIAL = "partial"
    MISSED = "missed"

    @property
    def credit(self) -> float:
        return {"hit": 1.0, "partial": 0.5, "missed": 0.0}[self.value]


class Flag(StrEnum):
    INJECTION_SUSPECTED = "injection_suspected"
    NEEDS_REVIEW = "needs_review"
    NOT_PROSE = "not_prose"
    TOO_SHORT = "too_short"
    OFFLINE_FALLBACK = "offline_fallback"
    MANUAL = "manual"
    POINTS_KEPT = "points_kept"  # graded after feedback went out: better feedback, same points


@dataclass(frozen=True, slots=True)
class CriterionResult:
    criterion_id: str
    verdict: Verdict
    evidence: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Grade:
    score: float  # 0..10, computed in code
    criteria: tuple[CriterionResult, ...]
    feedback: str
    grader: str
    model: str | None = None
    prompt_version: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: int = 0
    flags: frozenset[Flag] = field(default_factory=frozenset)

    @property
    def missed(self) -> list[str]:
        return [c.criterion_id for c in self.criteria if c.verdict is Verdict.MISSED]

    @property
    def hit(self) -> list[str]:
        return [c.criterion_id for c in self.criteria if c.verdict is Verdict.HIT]


def clamp_score(value: float) -> float:
    return round(max(0.0, min(10.0, value)), 1)


def weighted_score(weights: dict[str, float], results: tuple[CriterionResult, ...]) -> float:
    """The total from criterion weights and verdicts, 0..10; graders never return totals."""
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    got = sum(weights.get(r.criterion_id, 0.0) * r.verdict.credit for r in results)
    return clamp_score(10.0 * got / total)
