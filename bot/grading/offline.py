"""The offline rubric grader: deterministic, fast, no network.

With a rubric: score = rubric coverage (each criterion met when one of its signals is said as a
concept and not negated, see bot/grading/concepts.py) blended with how much of the reference
answer's meaning-carrying vocabulary the answer recalls (terms weighted by rarity), through a
concave curve, times a prose factor (keyword lists earn nothing), minus the penalties of the
misconceptions the answer asserts. The weights were fitted on the bank's calibration answers.

Reference answer only (no rubric): score = a saturating curve of how much of the reference
the answer recalls, measured twice and averaged: rarity-weighted reference words matched
softly (same stem, glued-in, or close spelling) and rarity-weighted character 4-grams. Words
that already appear in the question are discounted (restating the question is not an answer).
The mix and the curve were fitted on half of the questions of a public, human-graded
short-answer set (tests/data/asag) and checked on the other half; see the README there.

Text copied from the prompt and sentences addressed to the grader are removed first.
Recall-based measures are used on purpose: filler cannot dilute them, and since only sentences
that touch the topic are measured (for recall, prose and length alike), filler cannot raise
them either.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from bot.grading.concepts import AnswerText, Match, ThesaurusIndex, compile_phrase, tokenize
from bot.grading.injection import screen
from bot.grading.model import CriterionResult, Flag, Grade, Verdict, clamp_score
from bot.grading.text import (
    MATCH_STOPWORDS,
    STOPWORDS,
    VAGUE_WORDS,
    char_grams,
    content_stems,
    copied_span_mask,
    stem,
    stopword_ratio,
    word_similarity,
    words,
)
from content.schema import Criterion, Misconception, Question
from content.thesaurus import Thesaurus

GRADER_NAME = "offline"
GRADER_VERSION = "offline-4"

# With a rubric (fitted on the bank's calibration answers; content/holdout measures them):
# raw = RUBRIC_SHARE * weighted coverage + (1 - RUBRIC_SHARE) * min(1, recall / RECALL_SATURATION),
# score = 10 * raw ** CREDIT_CURVE * prose * length - MISCONCEPTION_WEIGHT * penalties. The concave
# curve is what a senior interviewer does: half the substance earns about half the score, and a
# terse answer that makes the points is not held down by the words it did not spend.
RUBRIC_SHARE = 0.7
RECALL_SATURATION = 0.4
MISCONCEPTION_WEIGHT = 1.5
CREDIT_CURVE = 0.75
# Reference-only questions (fitted on the dev half of tests/data/asag, see the module docstring):
# similarity = WORD_SHARE * soft word recall + (1 - WORD_SHARE) * character 4-gram recall, then
# score = (1 - exp(-CURVE_STEEPNESS * (similarity - CHANCE))) normalised so similarity 1 -> 1.
# Human graders give most of the credit for the core idea (recall 0.3 already averages 4.2/5),
# hence the concave curve; CHANCE is what an unrelated text typically shares with a reference.
WORD_SHARE = 0.4
CURVE_STEEPNESS = 5.0
CHANCE = 0.0
# Reference words the question already uses count this much: restating the question is not an
# answer, but "when you don't specify any constructor" rightly reuses the question's noun.
QUESTION_WORD_SHARE = 0.2
# Above this many content words an answer must read as prose; below it a terse answer
# ("by reference", "push and pop") is legitimate, not a keyword list.
PROSE_MIN_CONTENT_WORDS = 8
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")
# Stopword share of ordinary English prose is ~0.35-0.5; a keyword list is below 0.1.
PROSE_FLOOR, PROSE_FULL = 0.06, 0.14
MIN_CONTENT_WORDS = 6
FUZZY_MIN_LEN = 6


@dataclass(frozen=True, slots=True)
class TermWeights:
    """Inverse document frequency over a corpus (the bank): rare terms say more.

    `idf` is keyed by word stem, `gram_idf` by character 4-gram; both unknown -> `default`.
    """

    idf: dict[str, float] = field(default_factory=dict)
    gram_idf: dict[str, float] = field(default_factory=dict)
    default: float = 1.0

    @classmethod
    def from_documents(cls, documents: Iterable[str]) -> TermWeights:
        texts = list(documents)
        n = max(len(texts), 1)
        df: Counter[str] = Counter()
        gram_df: Counter[str] = Counter()
        for text in texts:
            tokens = words(text)
            df.update({stem(w) for w in tokens if w not in MATCH_STOPWORDS})
            gram_df.update(char_grams(tokens))

        def idf(count: int) -> float:
            return math.log((n + 1) / (count + 1)) + 1.0

        return cls(
            idf={t: idf(c) for t, c in df.items()},
            gram_idf={g: idf(c) for g, c in gram_df.items()},
            default=math.log(n + 1) + 1.0,
        )

    def weight(self, term: str) -> float:
        return self.idf.get(term, self.default)

    def gram_weight(self, gram: str) -> float:
        return self.gram_idf.get(gram, self.default)


@dataclass(frozen=True, slots=True)
class _ReferenceProfile:
    """What an answer is compared with, computed once per (prompt, reference answer).

    Sorted tuples, not sets: the sums below then add up in the same order in every process,
    so a score never flips at a rounding boundary between runs.
    """

    words: tuple[tuple[str, str, float], ...]  # (word, stem, weight), words not in the question
    grams: tuple[tuple[str, float], ...]  # reference 4-grams not in the question, with weights
    word_total: float
    gram_total: float
    content_words: int  # how many meaning-carrying words the reference itself needs


def _reference_profile(weights: TermWeights, prompt: str, reference: str) -> _ReferenceProfile:
    prompt_tokens = words(prompt)
    reference_tokens = words(reference)
    asked = {stem(w) for w in prompt_tokens if w not in MATCH_STOPWORDS}
    ref_words = sorted({w for w in reference_tokens if w not in MATCH_STOPWORDS})
    # Discount what the question already says, without removing it: "when you don't specify any
    # constructor" answers "when is a default constructor created?" with the question's own noun.
    asked_grams = char_grams(prompt_tokens)
    weighted_words = tuple(
        (w, stem(w), weights.weight(stem(w)) * (QUESTION_WORD_SHARE if stem(w) in asked else 1.0)) for w in ref_words
    )
    weighted_grams = tuple(
        (g, weights.gram_weight(g) * (QUESTION_WORD_SHARE if g in asked_grams else 1.0))
        for g in sorted(char_grams(reference_tokens))
    )
    return _ReferenceProfile(
        words=weighted_words,
        grams=weighted_grams,
        word_total=sum(w for _, _, w in weighted_words),
        gram_total=sum(w for _, w in weighted_grams),
        content_words=sum(1 for w in reference_tokens if w not in STOPWORDS),
    )


def reference_similarity(profile: _ReferenceProfile, answer_tokens: Sequence[str]) -> float:
    """0..1: how much of the reference the answer recalls (soft words and 4-grams, by weight)."""
    if not profile.words and not profile.grams:
        return 0.0
    answer_words = {w for w in answer_tokens if w not in MATCH_STOPWORDS}
    answer_stems = {stem(w) for w in answer_words}
    word_recall = 0.0
    if profile.word_total > 0 and answer_words:
        got = 0.0
        for word, word_stem, weight in profile.words:
            if word_stem in answer_stems:
                got += weight
            else:
                got += weight * max(word_similarity(word, a) for a in answer_words)
        word_recall = got / profile.word_total
    gram_recall = 0.0
    if profile.gram_total > 0:
        answer_grams = char_grams(answer_tokens)
        gram_recall = sum(w for g, w in profile.grams if g in answer_grams) / profile.gram_total
    return WORD_SHARE * word_recall + (1 - WORD_SHARE) * gram_recall


class _AnswerIndex:
    """The answer's stems with positions, plus typo-tolerant lookup."""

    def __init__(self, tokens: Sequence[str]):
        self.tokens = list(tokens)
        self.positions: dict[str, list[int]] = {}
        for i, t in enumerate(self.tokens):
            self.positions.setdefault(t, []).append(i)
        # One edit changes the length by at most one, so candidates are looked up by length.
        self._by_length: dict[int, list[str]] = {}
        for t in self.positions:
            if len(t) >= FUZZY_MIN_LEN - 1:
                self._by_length.setdefault(len(t), []).append(t)
        self._fuzzy_cache: dict[str, str | None] = {}

    def variant(self, term: str) -> str | None:
        """The answer's own spelling of `term`: exact, or one edit away for long words."""
        if term in self.positions:
            return term
        if len(term) < FUZZY_MIN_LEN:
            return None
        if term not in self._fuzzy_cache:
            n = len(term)
            candidates = [t for size in (n - 1, n, n + 1) for t in self._by_length.get(size, ())]
            best = process.extractOne(term, candidates, scorer=Levenshtein.distance, score_cutoff=1) if candidates else None
            self._fuzzy_cache[term] = best[0] if best else None
        return self._fuzzy_cache[term]


@lru_cache(maxsize=16384)
def _phrase_stems(phrase: str) -> tuple[str, ...]:
    return tuple(stem(w) for w in words(phrase))


class OfflineGrader:
    """Rubric + reference grader. `grade_sync` is pure; `grade` satisfies the Grader port."""

    name = GRADER_NAME

    def __init__(self, weights: TermWeights | None = None, *, thesaurus: Thesaurus | None = None):
        self._weights = weights or TermWeights()
        self._thesaurus = ThesaurusIndex(thesaurus.groups if thesaurus else ())
        self._known = frozenset(self._weights.idf)
        self._prompt_tokens = lru_cache(maxsize=2048)(lambda prompt: tuple(t.stem for t in tokenize(prompt)[1]))
        # Per grader, not global: the profile depends on these weights.
        self._profile = lru_cache(maxsize=2048)(self._build_profile)
        self._rubric_reference = lru_cache(maxsize=2048)(self._build_rubric_reference)
        self._topic = lru_cache(maxsize=2048)(self._build_topic)

    def _topic_stems(self, question: Question) -> frozenset[str]:
        return self._topic(question.model_answer, tuple(s for c in question.rubric for s in c.signals))

    def _build_topic(self, reference: str, signals: tuple[str, ...]) -> frozenset[str]:
        """Stems that mark a sentence as being about the question: the reference's and the signals'."""
        vague = {stem(w) for w in VAGUE_WORDS}
        stems = set(content_stems(reference))
        for signal in signals:
            stems.update(t for t in _phrase_stems(signal) if t not in STOPWORDS)
        return frozenset(stems - vague)

    def _build_profile(self, prompt: str, reference: str) -> _ReferenceProfile:
        return _reference_profile(self._weights, prompt, reference)

    async def grade(self, question: Question, answer_text: str) -> Grade:
        return self.grade_sync(question, answer_text)

    def grade_sync(self, question: Question, answer_text: str) -> Grade:
        started = time.perf_counter()
        flags: set[Flag] = set()
        screened = screen(answer_text)
        if screened.injection_suspected:
            flags.add(Flag.INJECTION_SUSPECTED)

        sentences = [words(s) for s in _SENTENCE.split(screened.text)]
        answer_words = [w for sentence in sentences for w in sentence]
        prompt_stems = [stem(w) for w in words(question.prompt)]
        all_stems = [stem(w) for w in answer_words]
        keep = copied_span_mask(all_stems, prompt_stems)
        answer_stems = [t for t, k in zip(all_stems, keep, strict=True) if k]
        index = _AnswerIndex(answer_stems)

        # Prose and length are judged on the sentences that say something about the topic, so
        # filler appended to a keyword list (or to a one-liner) cannot buy the missing factor.
        topical = self._topic_stems(question)
        on_topic = [any(stem(w) in topical for w in s) for s in sentences]
        if not any(on_topic):  # maybe only misspelt ("refrenece"): look again, letting spelling slip
            on_topic = [any(_near(w, topical) for w in s) for s in sentences]
        if not any(on_topic):
            on_topic = [True] * len(sentences)
        substantive = [w for s, t in zip(sentences, on_topic, strict=True) if t for w in s]
        # Distinct words: saying the same thing three times is not a longer answer.
        content_count = len({stem(w) for w in substantive if w not in STOPWORDS})
        if question.rubric:
            prose = _prose_factor(substantive)
            length_factor = min(1.0, content_count / MIN_CONTENT_WORDS)
        else:
            # Recall already rewards saying more of the reference; a terse answer to a terse
            # reference ("by reference") is neither too short nor a keyword list.
            profile = self._profile(question.prompt, question.model_answer)
            prose = _prose_factor(substantive) if content_count >= PROSE_MIN_CONTENT_WORDS else 1.0
            length_factor = 1.0
        if prose < 1.0:
            flags.add(Flag.NOT_PROSE)
        if length_factor < 1.0:
            flags.add(Flag.TOO_SHORT)

        concept_text = self._concept_text(question, screened.text)
        results = tuple(self._judge(c, concept_text) for c in question.rubric)
        if question.rubric:
            recall = self._reference_recall(question, index)
            coverage = sum(c.weight * r.verdict.credit for c, r in zip(question.rubric, results, strict=True))
            coverage /= question.total_weight
            raw = RUBRIC_SHARE * coverage + (1 - RUBRIC_SHARE) * min(1.0, recall / RECALL_SATURATION)
            raw = raw**CREDIT_CURVE  # concave: see the constants above
        else:
            # Off-topic sentences cannot lend chance letter-overlaps ("-tion", "the ") to the recall.
            sentence_of = [i for i, s in enumerate(sentences) for _ in s]
            # Words copied from the question are kept here: the reference profile already discounts them.
            topical_words = [w for w, i in zip(answer_words, sentence_of, strict=True) if on_topic[i]]
            recall = reference_similarity(profile, topical_words)
            raw = _reference_only_curve(recall)

        asserted = [m for m in question.misconceptions if self._asserts(m, concept_text)]
        penalty = sum(m.penalty for m in asserted) * MISCONCEPTION_WEIGHT
        score = clamp_score(10.0 * raw * prose * length_factor - penalty)
        feedback = _feedback(question, results, score, recall, flags, asserted)
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

    def criteria_in(self, question: Question, text: str) -> tuple[CriterionResult, ...]:
        """Verdicts for a text as it stands, nothing removed (the author check asks this of the prompt)."""
        answer = AnswerText(text, known=self._known)
        return tuple(self._judge(c, answer) for c in question.rubric)

    def asserted_misconceptions(self, question: Question, text: str) -> list[Misconception]:
        answer = self._concept_text(question, text)
        return [m for m in question.misconceptions if self._asserts(m, answer)]

    def _concept_text(self, question: Question, text: str) -> AnswerText:
        """The answer for concept matching, less runs of words copied from the prompt."""
        keep = copied_span_mask([t.stem for t in tokenize(text)[1]], self._prompt_tokens(question.prompt))
        return AnswerText(text, drop=None if all(keep) else [not k for k in keep], known=self._known)

    def _matches(self, answer: AnswerText, phrase: str, *, allow_partial: bool = False) -> list[Match]:
        found: list[Match] = []
        compiled = compile_phrase(phrase)
        for alternative in self._thesaurus.alternatives(compiled):
            # Half-credit only where the signal itself allows it (three words or more), and never
            # through a shorter spelling (glued words, a short synonym): half of that is less than
            # half of the signal.
            partial = allow_partial and len(compiled) >= 3 and len(alternative) >= len(compiled)
            found += answer.find(alternative, allow_partial=partial)
        return found

    def _positive(self, answer: AnswerText, phrase: str) -> Match | None:
        return next((m for m in self._matches(answer, phrase) if m.complete and not m.negated), None)

    def _asserts(self, misconception: Misconception, answer: AnswerText) -> bool:
        return any(self._positive(answer, s) for s in misconception.signals)

    def _judge(self, criterion: Criterion, answer: AnswerText) -> CriterionResult:
        """HIT on one clear, positive mention of any signal; PARTIAL on a near one; quotes the words."""
        near: Match | None = None
        for signal in criterion.signals:
            for match in self._matches(answer, signal, allow_partial=True):
                if match.negated:
                    continue
                if match.complete:
                    quote = answer.quote(match)
                    return CriterionResult(criterion.id, Verdict.HIT, evidence=quote, reason=f'you wrote "{quote}"')
                near = near or match
        if near is not None:
            quote = answer.quote(near)
            return CriterionResult(criterion.id, Verdict.PARTIAL, evidence=quote, reason=f'touched on in "{quote}"')
        return CriterionResult(criterion.id, Verdict.MISSED, reason="not mentioned")

    def _reference_recall(self, question: Question, index: _AnswerIndex) -> float:
        terms, total = self._rubric_reference(question.prompt, question.model_answer)
        if total <= 0:
            return 0.0
        return sum(weight for term, weight in terms if index.variant(term) is not None) / total

    def _build_rubric_reference(self, prompt: str, reference: str) -> tuple[tuple[tuple[str, float], ...], float]:
        """The reference's content stems not in the prompt, with weights (sorted: stable sums)."""
        asked = {stem(w) for w in words(prompt)}
        terms = tuple((t, self._weights.weight(t)) for t in sorted(set(content_stems(reference)) - asked))
        return terms, sum(w for _, w in terms)


def _near(word: str, stems: frozenset[str]) -> bool:
    return len(word) >= 4 and any(word_similarity(t, word) > 0 for t in stems if len(t) >= 3)


def _reference_only_curve(similarity: float) -> float:
    """Concave and saturating: the core idea earns most of the credit, details the rest."""
    lift = max(0.0, similarity - CHANCE)
    return (1.0 - math.exp(-CURVE_STEEPNESS * lift)) / (1.0 - math.exp(-CURVE_STEEPNESS * (1.0 - CHANCE)))


def _prose_factor(answer_words: Sequence[str]) -> float:
    ratio = stopword_ratio(answer_words)
    return max(0.0, min(1.0, (ratio - PROSE_FLOOR) / (PROSE_FULL - PROSE_FLOOR)))


def _feedback(
    question: Question,
    results: tuple[CriterionResult, ...],
    score: float,
    recall: float,
    flags: set[Flag],
    asserted: Sequence[Misconception] = (),
) -> str:
    """Short notes; the per-criterion lists are rendered from `criteria` by the views."""
    parts: list[str] = []
    for misconception in asserted:
        why = f" {misconception.why.rstrip('.')}." if misconception.why else ""
        parts.append(f"Not quite: the answer says {misconception.claim[0].lower()}{misconception.claim[1:].rstrip('.')}.{why}")
    if Flag.NOT_PROSE in flags:
        parts.append("Write it as sentences that explain how and why; a list of keywords earns little.")
    if Flag.TOO_SHORT in flags:
        parts.append("The answer is very short; say how and why, not only what.")
    if Flag.INJECTION_SUSPECTED in flags:
        parts.append("Parts of the answer addressed the grader rather than the question and were ignored.")
    # Only a point the answer did not make at all is sent to study: never one it covered.
    weakest = next((r for r in results if r.verdict is Verdict.MISSED), None)
    criterion = question.criterion(weakest.criterion_id) if weakest else None
    touched = next((r for r in results if r.verdict is Verdict.PARTIAL), None)
    touched_criterion = question.criterion(touched.criterion_id) if touched else None
    if criterion is not None:
        parts.append(f"Study next: {criterion.description.rstrip('.')}.")
    elif touched_criterion is not None:
        parts.append(f"Go one step further on: {touched_criterion.description.rstrip('.')}.")
    elif not question.rubric and recall < 0.5:
        parts.append("Compare your answer with the model answer at the reveal; key points were missing.")
    if not parts:
        parts.append("Solid answer: every point of the rubric is there.")
    return " ".join(parts)
