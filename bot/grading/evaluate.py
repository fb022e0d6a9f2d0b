"""`repbot grader eval`: grade a CSV of human-graded answers and measure the agreement.

The CSV has the columns question, reference_answer, answer, score and optionally max_score
(default 5); any other columns are carried through to `--out`. Each distinct (question,
reference answer) becomes a reference-only Question, every row is graded, the grader's 0-10
is mapped linearly onto the row's own scale, and the figures come from bot.grading.calibration.
Rows with a missing or unusable field are reported by line number and skipped, never fatal.
"""

from __future__ import annotations

import asyncio
import csv
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.config import Settings
from bot.grading.calibration import Agreement, agreement, format_confusion
from bot.grading.composite import CompositeGrader
from bot.grading.errors import GradingUnavailable
from bot.grading.llm import LLMGrader
from bot.grading.model import Grade, clamp_score
from bot.grading.offline import OfflineGrader, TermWeights
from bot.grading.text import STOPWORDS, words
from bot.ports import Grader
from content.schema import Question

REQUIRED = ("question", "reference_answer", "answer", "score")
DEFAULT_MAX_SCORE = 5.0
OUTPUT_COLUMNS = ("grader_score", "grader_flags", "grader_note")
# How many rows are in flight at once; the LLM grader has its own, smaller concurrency limit.
BATCH = 64


class EvalError(Exception):
    """The file cannot be evaluated at all (unreadable, or a required column is missing)."""


@dataclass(frozen=True, slots=True)
class EvalRow:
    line: int  # where the record starts in the file (the header is line 1)
    values: dict[str, str]  # every column as read, for --out
    question: str = ""
    reference_answer: str = ""
    answer: str = ""
    score: float = 0.0
    max_score: float = DEFAULT_MAX_SCORE
    problem: str | None = None  # why the row is skipped; None = gradeable


@dataclass(frozen=True, slots=True)
class Graded:
    row: EvalRow
    grade: Grade | None = None
    scaled: float | None = None  # the grader's score on the row's own scale
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Report:
    rows: tuple[Graded, ...]
    scale: float  # the scale the figures are on (the most common max_score)
    agreement: Agreement | None  # None when fewer than two rows could be compared
    seconds: float
    grader: str
    skipped: tuple[EvalRow, ...] = field(default_factory=tuple)
    failed: tuple[Graded, ...] = field(default_factory=tuple)


def read_rows(path: Path) -> list[EvalRow]:
    """Every record of the file, gradeable or not (a `problem` says why not)."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise EvalError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with handle:
        reader = csv.reader(handle)
        try:
            header = [h.strip() for h in next(reader, [])]
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise EvalError(
                    f"{path}: missing column(s) {', '.join(missing)}; the header needs "
                    f"{', '.join(REQUIRED)} (and optionally max_score)"
                )
            rows: list[EvalRow] = []
            start = reader.line_num + 1
            for fields in reader:
                if fields:  # blank lines are not records
                    values = dict(zip(header, (*fields, *[""] * (len(header) - len(fields))), strict=False))
                    rows.append(_parse(start, values, extra=fields[len(header) :]))
                start = reader.line_num + 1
        except csv.Error as exc:
            raise EvalError(f"{path}: line {reader.line_num}: {exc}") from exc
    return rows


def _parse(line: int, values: dict[str, str], extra: list[str] | None) -> EvalRow:
    def skip(problem: str) -> EvalRow:
        return EvalRow(line=line, values=values, problem=problem)

    if extra and any(x.strip() for x in extra):
        return skip("more fields than the header has columns")
    empty = [c for c in REQUIRED if not values.get(c, "").strip()]
    if empty:
        return skip(f"missing {', '.join(empty)}")
    try:
        score = float(values["score"])
    except ValueError:
        return skip(f"score '{values['score']}' is not a number")
    raw_max = values.get("max_score", "").strip()
    try:
        max_score = float(raw_max) if raw_max else DEFAULT_MAX_SCORE
    except ValueError:
        return skip(f"max_score '{raw_max}' is not a number")
    if not (math.isfinite(max_score) and max_score > 0):
        return skip(f"max_score must be > 0, is {raw_max}")
    if not (math.isfinite(score) and 0 <= score <= max_score):
        return skip(f"score {values['score']} is outside 0..{max_score:g}")
    return EvalRow(
        line=line,
        values=values,
        question=values["question"].strip(),
        reference_answer=values["reference_answer"].strip(),
        answer=values["answer"].strip(),
        score=score,
        max_score=max_score,
    )


class WordOverlapGrader:
    """The baseline any grader must beat: the share of the reference's content words that the
    answer repeats (lowercased, stopwords dropped, no stemming, no weights), times 10."""

    name = "overlap"

    async def grade(self, question: Question, answer_text: str) -> Grade:
        reference = {w for w in words(question.model_answer) if w not in STOPWORDS}
        answer = set(words(answer_text))
        share = len(reference & answer) / len(reference) if reference else 0.0
        return Grade(score=clamp_score(10.0 * share), criteria=(), feedback="", grader=self.name)


@dataclass(frozen=True, slots=True)
class ChosenGrader:
    grader: Grader
    llm: LLMGrader | None = None  # to close when done

    async def aclose(self) -> None:
        if self.llm is not None:
            await self.llm.aclose()


def eval_grader(kind: str, settings: Settings, offline: OfflineGrader) -> ChosenGrader:
    """The grader `--grader` names, built from Settings like the bot builds its own."""
    if kind == "offline":
        return ChosenGrader(offline)
    if kind == "overlap":
        return ChosenGrader(WordOverlapGrader())
    if kind not in ("llm", "composite"):
        raise EvalError(f"unknown grader '{kind}' (use offline, llm, composite or overlap)")
    if not settings.llm_enabled:
        raise EvalError(f"--grader {kind} needs an LLM: set REPBOT_LLM_BASE_URL and/or REPBOT_LLM_API_KEY")
    llm = LLMGrader.from_settings(settings)
    return ChosenGrader(llm if kind == "llm" else CompositeGrader(llm, offline), llm)


SPLITS = ("all", "dev", "held-out")


def select_split(rows: Sequence[EvalRow], split: str) -> list[EvalRow]:
    """Rows of one half, split by question: distinct (question, reference) pairs are numbered
    in order of first appearance; even numbers are "dev" (for tuning), odd are "held-out"."""
    if split not in SPLITS:
        raise EvalError(f"unknown split '{split}' (use {', '.join(SPLITS)})")
    if split == "all":
        return list(rows)
    order: dict[tuple[str, str], int] = {}
    for row in rows:
        if row.problem is None:
            order.setdefault((row.question, row.reference_answer), len(order))
    wanted = 0 if split == "dev" else 1
    # Skipped rows stay in every split, so they are still reported by line number.
    return [r for r in rows if r.problem is not None or order[(r.question, r.reference_answer)] % 2 == wanted]


def questions_for(rows: Iterable[EvalRow]) -> dict[tuple[str, str], Question]:
    """One reference-only Question per distinct (question, reference answer)."""
    questions: dict[tuple[str, str], Question] = {}
    for row in rows:
        key = (row.question, row.reference_answer)
        if row.problem is None and key not in questions:
            # model_construct, not validation: a team's CSV legitimately holds references like
            # "By reference." that the bank's length minimums (written for authored questions) reject.
            questions[key] = Question.model_construct(
                id=f"eval-{len(questions) + 1}",
                title=row.question[:150],
                prompt=row.question,
                rubric=[],
                misconceptions=[],
                model_answer=row.reference_answer,
                follow_ups=[],
                hints=[],
                common_mistakes=[],
            )
    return questions


def offline_grader_for(rows: Sequence[EvalRow], bank_answers: Iterable[str] = ()) -> OfflineGrader:
    """Term rarity from the bank plus the file's own reference answers (never from the grades)."""
    references = {r.reference_answer for r in rows if r.problem is None}
    return OfflineGrader(TermWeights.from_documents([*bank_answers, *sorted(references)]))


async def evaluate(
    rows: Sequence[EvalRow],
    grader: Grader,
    *,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Grade every gradeable row and compare with the human scores."""
    started = time.perf_counter()
    questions = questions_for(rows)
    gradeable = [r for r in rows if r.problem is None]
    results: dict[int, Graded] = {}

    async def one(row: EvalRow) -> Graded:
        try:
            grade = await grader.grade(questions[(row.question, row.reference_answer)], row.answer)
        except GradingUnavailable as exc:
            return Graded(row, error=str(exc))
        return Graded(row, grade=grade, scaled=round(grade.score / 10.0 * row.max_score, 3))

    for start in range(0, len(gradeable), BATCH):
        batch = gradeable[start : start + BATCH]
        for graded in await asyncio.gather(*(one(r) for r in batch)):
            results[graded.row.line] = graded
        if progress is not None:
            progress(len(batch))

    ordered = tuple(results.get(r.line, Graded(r)) for r in rows)
    compared = [g for g in ordered if g.scaled is not None]
    scale = _common_scale(g.row.max_score for g in compared)
    figures = None
    if len(compared) >= 2:
        human = [g.row.score / g.row.max_score * scale for g in compared]
        machine = [g.scaled / g.row.max_score * scale for g in compared if g.scaled is not None]
        figures = agreement(human, machine, max(1, round(scale)))
    return Report(
        rows=ordered,
        scale=scale,
        agreement=figures,
        seconds=time.perf_counter() - started,
        grader=getattr(grader, "name", type(grader).__name__),
        skipped=tuple(r for r in rows if r.problem is not None),
        failed=tuple(g for g in ordered if g.error is not None),
    )


def _common_scale(max_scores: Iterable[float]) -> float:
    counts = Counter(max_scores)
    return counts.most_common(1)[0][0] if counts else DEFAULT_MAX_SCORE


def write_rows(path: Path, report: Report) -> None:
    """Every input row back, with the grader's score (on the row's scale), flags and a note."""
    columns: list[str] = []
    for graded in report.rows:
        columns += [c for c in graded.row.values if c not in columns]
    columns += [c for c in OUTPUT_COLUMNS if c not in columns]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for graded in report.rows:
            out = dict(graded.row.values)
            out["grader_score"] = "" if graded.scaled is None else f"{graded.scaled:g}"
            out["grader_flags"] = " ".join(sorted(graded.grade.flags)) if graded.grade else ""
            out["grader_note"] = graded.row.problem or graded.error or ""
            writer.writerow(out)


def format_report(report: Report) -> list[str]:
    """The lines `repbot grader eval` prints."""
    graded = sum(1 for g in report.rows if g.scaled is not None)
    lines = [
        f"graded {graded} of {len(report.rows)} row(s) with the {report.grader} grader in {report.seconds:.1f}s"
        f" ({len(report.skipped)} skipped, {len(report.failed)} failed)"
    ]
    figures = report.agreement
    if figures is None:
        lines.append("not enough graded rows to compare (need at least 2)")
    else:
        lines += [
            f"n         {figures.n}",
            f"pearson   {figures.pearson:.3f}",
            f"spearman  {figures.spearman:.3f}",
            f"qwk       {figures.qwk:.3f}  (quadratic weighted kappa, grades rounded to 0..{figures.max_score})",
            f"mae       {figures.mae:.3f}  (on the 0..{report.scale:g} scale)",
            "confusion (rows: human, columns: grader, rounded):",
            *format_confusion(figures.confusion).splitlines(),
        ]
    lines += [f"line {r.line}: skipped, {r.problem}" for r in report.skipped]
    lines += [f"line {g.row.line}: not graded, {g.error}" for g in report.failed]
    return lines
