"""The offline rubric grader: deterministic, fast, no network.

Score = rubric coverage (signals matched per criterion, by weight) blended with how much of
the reference answer's meaning-carrying vocabulary the answer recalls (terms weighted by
rarity), times a prose factor (keyword lists earn nothing), minus misconception penalties.
Text copied from the prompt and sentences addressed to the grader are removed first.
Recall-based measures are used on purpose: padding an answer with filler cannot raise or
dilute them.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from bot.grading.injection import screen
from bot.grading.model import CriterionResult, Flag, Grade, Verdict, clamp_score
from bot.grading.text import STOPWORDS, remove_copied_spans, stem, stopword_ratio, words
from content.schema import Criterion, Question

GRADER_NAME = "offline"
GRADER_VERSION = "offline-2"

# Weights of the blend when a rubric exists; a paraphrase rarely reuses >60% of the reference.
RUBRIC_SHARE = 0.8
RECALL_SATURATION = 0.6
# Reference-only questions: recall at which an answer counts as complete.
REFERENCE_ONLY_SATURATION = 0.5
# Stopword share of ordinary English prose is ~0.35-0.5; a keyword list is below 0.1.
PROSE_FLOOR, PROSE_FULL = 0.12, 0.26
MIN_CONTENT_WORDS = 6
FUZZY_MIN_LEN = 6


@dataclass(frozen=True, slots=True)
class TermWeights:
    """Inverse document frequency over a corpus (the bank): rare terms say more."""

    idf: dict[str, float] = field(default_factory=dict)
    default: float = 1.0

    @classmethod
    def from_documents(cls, documents: Iterable[str]) -> TermWeights:
        docs = [set(_content_stems(d)) for d in documents]
        n = max(len(docs), 1)
        df: Counter[str] = Counter()
        for d in docs:
            df.update(d)
        idf = {t: math.log((n + 1) / (c + 1)) + 1.0 for t, c in df.items()}
        return cls(idf=idf, default=math.log(n + 1) + 1.0)

    def weight(self, term: str) -> float:
        return self.idf.get(term, self.default)


def _content_stems(text: str) -> list[str]:
    return [stem(w) for w in words(text) if w not in STOPWORDS]


class _AnswerIndex:
    """The answer's stems with positions, plus typo-tolerant lookup."""

    def __init__(self, tokens: Sequence[str]):
        self.tokens = list(tokens)
        self.positions: dict[str, list[int]] = {}
        for i, t in enumerate(self.tokens):
            self.positions.setdefault(t, []).append(i)
        self._long = [t for t in self.positions if len(t) >= FUZZY_MIN_LEN - 1]
        self._fuzzy_cache: dict[str, str | None] = {}

    def variant(self, term: str) -> str | None:
        """The answer's own spelling of `term`: exact, or one edit away for long words."""
        if term in self.positions:
            return term
        if len(term) < FUZZY_MIN_LEN or not self._long:
            return None
        if term not in self._fuzzy_cache:
            best = process.extractOne(term, self._long, scorer=Levenshtein.distance, score_cutoff=1)
            self._fuzzy_cache[term] = best[0] if best else None
        return self._fuzzy_cache[term]

    def contains_phrase(self, phrase: Sequence[str]) -> bool:
        if not phrase:
            return False
        variants = [self.variant(t) for t in phrase]
        if any(v is None for v in variants):
            return False
        if len(variants) == 1:
            return True
        for start in self.positions[variants[0]]:  # type: ignore[index]
            if all(start + k < len(self.tokens) and self.tokens[start + k] == v for k, v in enumerate(variants[1:], start=1)):
                return True
        return False


def _phrase_stems(phrase: str) -> tuple[str, ...]:
    return tuple(stem(w) for w in words(phrase))


class OfflineGrader:
    """Rubric + reference grader. `grade_sync` is pure; `grade` satisfies the Grader port."""

    name = GRADER_NAME

    def __init__(self, weights: TermWeights | None = None):
        self._weights = weights or TermWeights()

    async def grade(self, question: Question, answer_text: str) -> Grade:
        return self.grade_sync(question, answer_text)

    def grade_sync(self, question: Question, answer_text: str) -> Grade:
        started = time.perf_counter()
        flags: set[Flag] = set()
        screened = screen(answer_text)
        if screened.injection_suspected:
            flags.add(Flag.INJECTION_SUSPECTED)

        answer_words = words(screened.text)
        prompt_stems = [stem(w) for w in words(question.prompt)]
        answer_stems = remove_copied_spans([stem(w) for w in answer_words], prompt_stems)
        index = _AnswerIndex(answer_stems)

        prose = _prose_factor(answer_words)
        if prose < 1.0:
            flags.add(Flag.NOT_PROSE)
        content_count = sum(1 for w in answer_words if w not in STOPWORDS)
        length_factor = min(1.0, content_count / MIN_CONTENT_WORDS)
        if length_factor < 1.0:
            flags.add(Flag.TOO_SHORT)

        recall = self._reference_recall(question, index, set(prompt_stems))
        results = tuple(_judge(c, index) for c in question.rubric)
        if question.rubric:
            coverage = sum(c.weight * r.verdict.credit for c, r in zip(question.rubric, results, strict=True))
            coverage /= question.total_weight
            raw = RUBRIC_SHARE * coverage + (1 - RUBRIC_SHARE) * min(1.0, recall / RECALL_SATURATION)
        else:
            raw = _reference_only_curve(recall)

        penalty = sum(
            m.penalty for m in question.misconceptions if any(index.contains_phrase(_phrase_stems(s)) for s in m.signals)
        )
        score = clamp_score(10.0 * raw * prose * length_factor - penalty)
        feedback = _feedback(question, results, score, recall, flags)
        return Grade(
            score=score,
            criteria=results,
            feedback=feedback,
            grader=GRADER_NAME,
            model=None,
            prompt_version=GRADER_VERSION,
            latency_ms=int((time.perf_counter() - started) * 1000),
            flags=frozenset(flags),
        )

    def matches_any(self, text: str, phrases: Iterable[str]) -> bool:
        index = _AnswerIndex([stem(w) for w in words(text)])
        return any(index.contains_phrase(_phrase_stems(p)) for p in phrases)

    def _reference_recall(self, question: Question, index: _AnswerIndex, prompt_stems: set[str]) -> float:
        reference = set(_content_stems(question.model_answer)) - prompt_stems
        if not reference:
            return 0.0
        total = sum(self._weights.weight(t) for t in reference)
        got = sum(self._weights.weight(t) for t in reference if index.variant(t) is not None)
        return got / total


def _reference_only_curve(recall: float) -> float:
    return min(1.0, recall / REFERENCE_ONLY_SATURATION)


def _prose_factor(answer_words: Sequence[str]) -> float:
    ratio = stopword_ratio(answer_words)
    return max(0.0, min(1.0, (ratio - PROSE_FLOOR) / (PROSE_FULL - PROSE_FLOOR)))


def _judge(criterion: Criterion, index: _AnswerIndex) -> CriterionResult:
    matched = [s for s in criterion.signals if index.contains_phrase(_phrase_stems(s))]
    needed = min(2, len(criterion.signals))
    if len(matched) >= needed:
        verdict = Verdict.HIT
    elif matched:
        verdict = Verdict.PARTIAL
    else:
        verdict = Verdict.MISSED
    evidence = ", ".join(f'"{s}"' for s in matched[:3])
    reason = f"mentions {evidence}" if matched else "not mentioned"
    return CriterionResult(criterion.id, verdict, evidence=evidence, reason=reason)


def _feedback(question: Question, results: tuple[CriterionResult, ...], score: float, recall: float, flags: set[Flag]) -> str:
    """Short notes; the per-criterion lists are rendered from `criteria` by the views."""
    parts: list[str] = []
    if Flag.NOT_PROSE in flags:
        parts.append("Write it as sentences that explain how and why; a list of keywords earns little.")
    if Flag.TOO_SHORT in flags:
        parts.append("The answer is very short; say how and why, not only what.")
    if Flag.INJECTION_SUSPECTED in flags:
        parts.append("Parts of the answer addressed the grader rather than the question and were ignored.")
    weakest = next((r for r in results if r.verdict is Verdict.MISSED), None) or next(
        (r for r in results if r.verdict is Verdict.PARTIAL), None
    )
    criterion = question.criterion(weakest.criterion_id) if weakest else None
    if criterion is not None:
        parts.append(f"Study next: {criterion.description.rstrip('.')}.")
    elif not question.rubric and recall < 0.5:
        parts.append("Compare your answer with the model answer at the reveal; key points were missing.")
    if not parts:
        parts.append("Solid answer: every point of the rubric is there.")
    return " ".join(parts)
