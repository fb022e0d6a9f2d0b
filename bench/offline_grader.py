"""How fast the offline grader is, on one core: answers graded per CPU-second.

Two workloads, measured side by side in one run, each pass starting cold (a fresh grader and
every memo cache cleared), as new answers do in use:

* the public short-answer set in tests/data/asag (2,442 real student answers to reference-only
  questions, median 16 words): the issue's target, >= 1,000 answers/s;
* the bank's calibration answers (chat-length answers in five styles) graded against their rubric
  questions with the thesaurus, as the bot grades: the grading issue's target, >= 200 answers/s;
* the bundled bank's model answers graded against their own rubric questions (150-400 words
  each, several times a typical chat answer): reported without a target, as the long tail.

CPU time, not wall time, so a busy machine does not make the grader look slower than it is.
Run: .venv/bin/python -m bench.offline_grader
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.common import Row, check, print_rows
from bot.grading import concepts, offline, text
from bot.grading import evaluate as ev
from bot.grading.offline import OfflineGrader, TermWeights
from content.loader import load_bank
from content.schema import Question

ASAG = Path(__file__).resolve().parents[1] / "tests" / "data" / "asag" / "unt_data_structures.csv"
TARGET = ">= 1000"
RUBRIC_TARGET = ">= 200"
REPEATS = 3


def _cold() -> None:
    """Forget every memo, so each pass grades as if the answers were new (as they are in use)."""
    for memo in (
        text.stem,
        text.word_similarity,
        text._trigrams,
        offline._phrase_stems,
        concepts.compile_phrase,
        concepts._normal_word,
    ):
        memo.cache_clear()


def _rate(make: Callable[[], OfflineGrader], work: Sequence[tuple[Question, str]]) -> tuple[float, list[float]]:
    """Median answers per CPU-second over REPEATS cold passes, each with a fresh grader."""
    rates = []
    for _ in range(REPEATS):
        _cold()
        grader = make()
        started = time.process_time()
        for question, answer in work:
            grader.grade_sync(question, answer)
        rates.append(len(work) / max(time.process_time() - started, 1e-9))
    return statistics.median(rates), rates


def _row(name: str, rate: float, rates: list[float], size: int, target: str = "") -> Row:
    detail = f"{size} answers x {REPEATS}, per pass: " + ", ".join(f"{r:.0f}" for r in rates)
    return Row(name, round(rate), "answers/s", target, check(rate, target) if target else None, detail)


def run(progress: Callable[[str], None] | None = None) -> list[Row]:
    bank = load_bank([])
    rows = [r for r in ev.read_rows(ASAG) if r.problem is None]
    questions = ev.questions_for(rows)
    short = [(questions[ev.question_key(r)][0], r.answer) for r in rows]
    bank_answers = [q.model_answer for q in bank.all()]
    short_rate, short_rates = _rate(lambda: ev.offline_grader_for(rows, bank_answers), short)
    if progress:
        progress(f"asag: {short_rate:.0f} answers/s")

    def bank_grader() -> OfflineGrader:
        return OfflineGrader(TermWeights.from_documents(bank_answers), thesaurus=bank.thesaurus)

    chat = [(q, a.text) for q in bank.all() for a in q.calibration]
    chat_rate, chat_rates = _rate(bank_grader, chat)
    if progress:
        progress(f"bank calibration answers: {chat_rate:.0f} answers/s")
    long = [(q, q.model_answer) for q in bank.all()]
    long_rate, long_rates = _rate(bank_grader, long)
    if progress:
        progress(f"bank model answers: {long_rate:.0f} answers/s")
    return [
        _row("offline grader, public short answers (1 core)", short_rate, short_rates, len(short), TARGET),
        _row("offline grader, rubric + thesaurus, calibration answers (1 core)", chat_rate, chat_rates, len(chat), RUBRIC_TARGET),
        _row("offline grader, bank model answers 150-400 words (1 core)", long_rate, long_rates, len(long)),
    ]


if __name__ == "__main__":
    print_rows(run(print))
