"""Self-check for authors: `python -m content.check [--lint] FILE...` (no files: the whole bundled bank).

Lint rules (always): the file validates with the bundled and authoring rules; no signal is a single
generic word; no signal appears in the prompt; calibration answers do not copy the model answer.
Grader rules (skipped with --lint): the model answer scores >= 8 and an off-topic paragraph <= 2;
the prompt alone meets no criterion; the model answer asserts no misconception; every calibration
answer lands in its band, and the grader orders the styles as their expected scores do.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.grading.concepts import compile_phrase
from bot.grading.model import Verdict
from bot.grading.offline import OfflineGrader, TermWeights
from bot.grading.text import stem, words
from content.loader import BUNDLED_DIR, _yaml_files, load_file
from content.schema import AnswerStyle, Question
from content.thesaurus import Thesaurus, load_thesaurus

OFF_TOPIC = (
    "To bake a good sourdough loaf you feed the starter the night before, mix flour, water and salt, "
    "then let the dough rest and fold it every half hour. After shaping it proofs overnight in the "
    "fridge and bakes in a very hot covered pot until the crust is deep brown and crackles as it cools."
)
MODEL_MIN, OFF_TOPIC_MAX = 8.0, 2.0
# A one-word signal found in more than this share of the bank's prompts and model answers fits
# too many questions to say anything ("owner", "rollback", "dashboard").
GENERIC_DOCUMENT_SHARE = 0.10
# Words too broad for a signal of their own, whatever the bank's statistics say.
GENERIC_WORDS = frozenset(
    """ci cd owner owners gate gates incident incidents test tests testing deploy deploys deployment release
    releases build builds pipeline pipelines process team teams data change changes code version versions
    monitor monitoring metric metrics alert alerts risk plan tool tools automation automate automated
    communicate communication document documentation review reviews approve approval security fix""".split()
)
COPIED_SPAN_WORDS = 8
# The grader must order the styles as a senior interviewer would: these pairs are (better, worse).
STYLE_ORDER = [
    (AnswerStyle.THOROUGH, AnswerStyle.PARTIAL),
    (AnswerStyle.TERSE_EXPERT, AnswerStyle.PARTIAL),
    (AnswerStyle.PARTIAL, AnswerStyle.WRONG),
    (AnswerStyle.PARTIAL, AnswerStyle.VAGUE),
]


def bank_grader(questions: Sequence[Question], thesaurus: Thesaurus | None = None) -> OfflineGrader:
    """The offline grader as the bot builds it for the bundled bank."""
    return OfflineGrader(TermWeights.from_documents(q.model_answer for q in questions), thesaurus=thesaurus or load_thesaurus())


def generic_stems(questions: Sequence[Question]) -> frozenset[str]:
    df: Counter[str] = Counter()
    for q in questions:
        df.update({stem(w) for w in words(q.prompt + " " + q.model_answer)})
    limit = GENERIC_DOCUMENT_SHARE * max(len(questions), 1)
    return frozenset({t for t, n in df.items() if n > limit} | {stem(w) for w in GENERIC_WORDS})


def _contains(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    n = len(needle)
    return n > 0 and any(list(haystack[i : i + n]) == list(needle) for i in range(len(haystack) - n + 1))


def _shared_span(a: Sequence[str], b: Sequence[str], size: int) -> str | None:
    grams = {tuple(a[i : i + size]) for i in range(len(a) - size + 1)}
    for i in range(len(b) - size + 1):
        if tuple(b[i : i + size]) in grams:
            return " ".join(b[i : i + size])
    return None


def lint_question(q: Question, generic: frozenset[str]) -> list[str]:
    problems: list[str] = []
    prompt_stems = [stem(w) for w in words(q.prompt)]
    for c in q.rubric:
        for s in c.signals:
            signal_stems = [stem(w) for w in words(s)]
            # Judged as the grader reads it: "what would I do differently" is only "differently".
            meaning = compile_phrase(s)
            if len(meaning) == 1 and meaning[0].stem in generic:
                problems.append(f"rubric.{c.id}: signal '{s}' is a single generic word to the grader ('{meaning[0].word}'); name the concept in a phrase")
            if _contains(prompt_stems, signal_stems):
                problems.append(f"rubric.{c.id}: signal '{s}' is already in the prompt; the prompt's words earn nothing")
    model_words = words(q.model_answer)
    for n, answer in enumerate(q.calibration, start=1):
        copied = _shared_span(model_words, words(answer.text), COPIED_SPAN_WORDS)
        if copied:
            problems.append(f"calibration.{n} ({answer.style}): copies the model answer ('{copied}'); write it in other words")
    return problems


def grade_question(q: Question, grader: OfflineGrader) -> list[str]:
    problems: list[str] = []
    own = grader.grade_sync(q, q.model_answer)
    if own.score < MODEL_MIN:
        weak = [r.criterion_id for r in own.criteria if r.verdict is not Verdict.HIT]
        problems.append(f"model answer scores {own.score} (< {MODEL_MIN}); criteria not fully hit: {weak}")
    off = grader.grade_sync(q, OFF_TOPIC)
    if off.score > OFF_TOPIC_MAX:
        problems.append(
            f"off-topic paragraph scores {off.score} (> {OFF_TOPIC_MAX}): {[r.evidence for r in off.criteria if r.evidence]}"
        )
    # Met, not merely touched: answers lose copied prompt text before grading anyway, so a prompt
    # that shares half a signal's words costs nothing; one that says a whole signal is a bad rubric.
    for r in grader.criteria_in(q, q.prompt):
        if r.verdict is Verdict.HIT:
            problems.append(f"rubric.{r.criterion_id}: the prompt alone meets it ({r.evidence})")
    for claim in grader.asserted_misconceptions(q, q.model_answer):
        problems.append(f"model answer asserts misconception '{claim.claim}'")
    scores: dict[AnswerStyle, list[tuple[float, float]]] = {}
    for n, answer in enumerate(q.calibration, start=1):
        got = grader.grade_sync(q, answer.text).score
        low, high = answer.bounds
        scores.setdefault(answer.style, []).append((answer.expected, got))
        if not low <= got <= high:
            problems.append(
                f"calibration.{n} ({answer.style}): offline grade {got} outside [{low}, {high}] (expected {answer.expected})"
            )
    for better, worse in STYLE_ORDER:
        for exp_b, got_b in scores.get(better, []):
            for exp_w, got_w in scores.get(worse, []):
                if exp_b > exp_w and got_b <= got_w:
                    problems.append(f"calibration: {better} graded {got_b} is not above {worse} graded {got_w}")
    return problems


@dataclass(frozen=True)
class BankContext:
    """What every check needs from the bundled bank: built once, reused for every file."""

    generic: frozenset[str]
    grader: OfflineGrader | None

    @classmethod
    def load(cls, *, lint_only: bool = False) -> BankContext:
        corpus = [q for f in _yaml_files(BUNDLED_DIR) for q in load_file(f)[0]]
        return cls(generic_stems(corpus), None if lint_only else bank_grader(corpus))


def check(paths: list[Path], *, lint_only: bool = False, context: BankContext | None = None) -> list[str]:
    context = context or BankContext.load(lint_only=lint_only)
    problems: list[str] = []
    for path in paths:
        questions, file_problems = load_file(path, strict=True, authoring=True)
        problems += file_problems
        for q in questions:
            found = lint_question(q, context.generic)
            if context.grader is not None and not lint_only:
                found += grade_question(q, context.grader)
            problems += [f"{path}: {q.id}: {p}" for p in found]
    return problems


def main(argv: list[str]) -> int:
    lint_only = "--lint" in argv
    paths = [Path(a) for a in argv if a != "--lint"] or _yaml_files(BUNDLED_DIR)
    problems = check(paths, lint_only=lint_only)
    for p in problems:
        print(p)
    print(f"{len(problems)} problem(s) in {len(paths)} file(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
