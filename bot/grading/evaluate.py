"""`repbot grader eval`: grade human-graded answers and measure the agreement.

A CSV row names its question one of two ways:
- `question_id` (and no reference_answer): a question of the bank; the row is graded against its
  rubric, as in the bot;
- `question` + `reference_answer`: a reference-only question. Several references for one question
  (repeated rows with the same question, or one cell with references separated by `||`) are all
  used: the answer is scored against the one it matches best.
Plus `answer`, `score` and optionally `max_score` (default 5); any other columns (e.g. `style`)
are carried through to `--out`, and a `style` column gets its own table of means. The grader's
0-10 is mapped linearly onto the row's own scale, and the figures come from
bot.grading.calibration. Rows with a missing or unusable field are reported by line number and
skipped, never fatal. The bank's own example answers are rows too (`bank_rows`).
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
from content.holdout import HOLDOUT_DIR, load_holdout
from content.loader import QuestionBank
from content.schema import Question
from content.thesaurus import Thesaurus

REQUIRED = ("answer", "score")
REFERENCE_COLUMNS = ("question", "reference_answer")
REFERENCE_SEPARATOR = "||"
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
    question_id: str = ""  # a bank question; then question/reference_answer are not used
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
            if "question_id" not in header:
                missing += [c for c in REFERENCE_COLUMNS if c not in header]
            if missing:
                raise EvalError(
                    f"{path}: missing column(s) {', '.join(missing)}; the header needs answer, score and either "
                    "question_id (a bank question) or question and reference_answer (and optionally max_score)"
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
    # A row with its own reference answer is graded against it; question_id then only labels it
    # (public data sets number their questions that way).
    question_id = "" if values.get("reference_answer", "").strip() else values.get("question_id", "").strip()
    needed = REQUIRED if question_id else (*REFERENCE_COLUMNS, *REQUIRED)
    empty = [c for c in needed if not values.get(c, "").strip()]
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
        question=values.get("question", "").strip(),
        reference_answer=values.get("reference_answer", "").strip(),
        question_id=question_id,
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
            order.setdefault(question_key(row), len(order))
    wanted = 0 if split == "dev" else 1
    # Skipped rows stay in every split, so they are still reported by line number.
    return [r for r in rows if r.problem is not None or order[question_key(r)] % 2 == wanted]


def question_key(row: EvalRow) -> tuple[str, str]:
    """What a row is graded against: a bank id, or a question's text (with all its references)."""
    return ("id", row.question_id) if row.question_id else ("text", row.question)


def references_of(row: EvalRow) -> list[str]:
    return [r.strip() for r in row.reference_answer.split(REFERENCE_SEPARATOR) if r.strip()]


def with_bank(rows: Sequence[EvalRow], bank: QuestionBank | None) -> list[EvalRow]:
    """Rows whose question_id the bank does not have are skipped, saying so."""
    out: list[EvalRow] = []
    for row in rows:
        if row.problem is None and row.question_id and (bank is None or bank.get(row.question_id) is None):
            row = EvalRow(line=row.line, values=row.values, problem=f"question_id '{row.question_id}' is not in the bank")
        out.append(row)
    return out


def questions_for(rows: Iterable[EvalRow], bank: QuestionBank | None = None) -> dict[tuple[str, str], list[Question]]:
    """The question(s) each row is graded against: the bank question, or one reference-only
    Question per distinct reference of the question text."""
    references: dict[tuple[str, str], list[str]] = {}
    questions: dict[tuple[str, str], list[Question]] = {}
    for row in rows:
        if row.problem is not None:
            continue
        key = question_key(row)
        if row.question_id:
            question = bank.get(row.question_id) if bank is not None else None
            if question is not None:
                questions[key] = [question]
            continue
        known = references.setdefault(key, [])
        known += [r for r in references_of(row) if r not in known]
    for key, texts in references.items():
        # model_construct, not validation: a team's CSV legitimately holds references like
        # "By reference." that the bank's length minimums (written for authored questions) reject.
        questions[key] = [
            Question.model_construct(
                id=f"eval-{len(questions) + 1}-{n}",
                title=key[1][:150],
                prompt=key[1],
                rubric=[],
                misconceptions=[],
                model_answer=text,
                follow_ups=[],
                hints=[],
                common_mistakes=[],
            )
            for n, text in enumerate(texts, start=1)
        ]
    return questions


def offline_grader_for(
    rows: Sequence[EvalRow], bank_answers: Iterable[str] = (), *, thesaurus: Thesaurus | None = None
) -> OfflineGrader:
    """Term rarity from the file's own reference answers (never from the grades), plus the bank's
    model answers when rows are graded against bank questions: which words are rare in release
    engineering says nothing about another domain's answers."""
    gradeable = [row for row in rows if row.problem is None]
    references = {r for row in gradeable for r in references_of(row)}
    bank = list(bank_answers) if any(row.question_id for row in gradeable) else []
    return OfflineGrader(TermWeights.from_documents([*bank, *sorted(references)]), thesaurus=thesaurus)


BANK_SETS = ("calibration", "holdout")


def bank_rows(bank: QuestionBank, which: str, *, holdout_dir: Path = HOLDOUT_DIR) -> list[EvalRow]:
    """The bank's example answers as rows (0-10 scale, with a style column): `calibration`, the
    answers in the questions (the offline grader is tuned on them and the LLM sees them as anchors),
    or `holdout`, answers kept aside that nothing is tuned on."""
    if which not in BANK_SETS:
        raise EvalError(f"unknown set '{which}' (use {', '.join(BANK_SETS)})")
    rows: list[EvalRow] = []
    if which == "calibration":
        examples = [(q.id, a.style.value, a.text, a.expected) for q in bank.all() for a in q.calibration]
    else:
        examples = [(e.question, e.style.value, e.text, e.expected) for e in load_holdout(holdout_dir)]
    for number, (question_id, style, text, expected) in enumerate(examples, start=2):
        values = {"question_id": question_id, "style": style, "answer": text, "score": f"{expected:g}", "max_score": "10"}
        rows.append(_parse(number, values, extra=None))
    return with_bank(rows, bank)


async def evaluate(
    rows: Sequence[EvalRow],
    grader: Grader,
    *,
    bank: QuestionBank | None = None,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Grade every gradeable row and compare with the human scores."""
    started = time.perf_counter()
    questions = questions_for(rows, bank)
    gradeable = [r for r in rows if r.problem is None]
    results: dict[int, Graded] = {}

    async def one(row: EvalRow) -> Graded:
        try:
            # Several references: the answer is measured against the one it matches best.
            grades = [await grader.grade(q, row.answer) for q in questions[question_key(row)]]
        except GradingUnavailable as exc:
            return Graded(row, error=str(exc))
        grade = max(grades, key=lambda g: g.score)
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
    lines += _style_table(report)
    lines += [f"line {r.line}: skipped, {r.problem}" for r in report.skipped]
    lines += [f"line {g.row.line}: not graded, {g.error}" for g in report.failed]
    return lines


def _style_table(report: Report) -> list[str]:
    """Mean human and grader score per answer style, when the rows have a `style` column."""
    by_style: dict[str, list[tuple[float, float]]] = {}
    for g in report.rows:
        style = g.row.values.get("style", "").strip()
        if style and g.scaled is not None:
            by_style.setdefault(style, []).append(
                (g.row.score / g.row.max_score * report.scale, g.scaled / g.row.max_score * report.scale)
            )
    if not by_style:
        return []
    lines = [f"{'style':14} {'n':>4} {'human':>6} {'grader':>6} {'diff':>6}"]
    for style, pairs in sorted(by_style.items()):
        human = sum(h for h, _ in pairs) / len(pairs)
        machine = sum(m for _, m in pairs) / len(pairs)
        lines.append(f"{style:14} {len(pairs):4d} {human:6.2f} {machine:6.2f} {machine - human:+6.2f}")
    return lines
