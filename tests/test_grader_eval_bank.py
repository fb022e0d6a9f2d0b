"""`repbot grader eval` against the bank's rubric (question_id rows) and with several references."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

from bot.grading import evaluate as ev
from bot.grading.offline import OfflineGrader, TermWeights
from content.loader import QuestionBank

GOOD_CANARY = (
    "I would send a small percentage of traffic, about 1%, to the canary through the service mesh and run a "
    "baseline of the old version side by side at the same time. I watch the error rate and p99 latency, and "
    "the controller rolls back automatically, setting the weight to zero, when the canary is worse."
)
WEAK_CANARY = "I would deploy it to a few servers and look at the graphs to see whether it is fine, then continue."


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def grade(rows: list[ev.EvalRow], bank: QuestionBank | None = None) -> ev.Report:
    grader = OfflineGrader(TermWeights.from_documents(q.model_answer for q in (bank.all() if bank else [])))
    return asyncio.run(ev.evaluate(rows, grader, bank=bank))


def test_a_question_id_row_is_graded_against_the_bank_rubric(tmp_path: Path, test_bank: QuestionBank) -> None:
    path = write_csv(
        tmp_path / "team.csv",
        ["question_id", "answer", "score", "max_score", "style"],
        [["test-canary", GOOD_CANARY, "9", "10", "thorough"], ["test-canary", WEAK_CANARY, "2", "10", "vague"]],
    )
    rows = ev.with_bank(ev.read_rows(path), test_bank)
    report = grade(rows, test_bank)
    good, weak = report.rows
    assert good.grade is not None and weak.grade is not None
    # Graded by the rubric: per-criterion verdicts exist (a reference-only grade has none).
    assert [c.criterion_id for c in good.grade.criteria] == [c.id for c in test_bank.get("test-canary").rubric]
    assert good.scaled > weak.scaled
    lines = ev.format_report(report)
    assert any(line.startswith("thorough") for line in lines) and any(line.startswith("vague") for line in lines)


def test_an_unknown_question_id_is_skipped_with_its_line(tmp_path: Path, test_bank: QuestionBank) -> None:
    path = write_csv(tmp_path / "team.csv", ["question_id", "answer", "score"], [["no-such-question", GOOD_CANARY, "4"]])
    rows = ev.with_bank(ev.read_rows(path), test_bank)
    assert rows[0].problem == "question_id 'no-such-question' is not in the bank"
    assert grade(rows, test_bank).skipped[0].line == 2


def test_a_file_needs_question_id_or_question_and_reference(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", ["answer", "score"], [["x", "1"]])
    try:
        ev.read_rows(path)
    except ev.EvalError as exc:
        assert "question_id" in str(exc) and "reference_answer" in str(exc)
    else:
        raise AssertionError("a file with no way to name the question was accepted")


QUESTION = "What does a stack do when you pop it?"
REFERENCE_A = "Pop removes the element on top of the stack and returns it: last in, first out."
REFERENCE_B = "It takes off the most recently pushed item and gives it back to the caller."
# Says REFERENCE_B's idea in REFERENCE_B's words: poor against A alone, good against B.
ANSWER = "It takes off whatever item was most recently pushed and gives that item back to the caller."


def test_several_references_score_the_answer_against_its_best_match(tmp_path: Path) -> None:
    only_a = write_csv(
        tmp_path / "a.csv", ["question", "reference_answer", "answer", "score"], [[QUESTION, REFERENCE_A, ANSWER, "5"]]
    )
    repeated = write_csv(
        tmp_path / "repeated.csv",
        ["question", "reference_answer", "answer", "score"],
        [[QUESTION, REFERENCE_A, ANSWER, "5"], [QUESTION, REFERENCE_B, "Pop gives back the top item.", "5"]],
    )
    separated = write_csv(
        tmp_path / "separated.csv",
        ["question", "reference_answer", "answer", "score"],
        [[QUESTION, f"{REFERENCE_A} || {REFERENCE_B}", ANSWER, "5"]],
    )
    against_a = grade(ev.read_rows(only_a)).rows[0].scaled
    with_repeats = grade(ev.read_rows(repeated)).rows[0].scaled
    with_separator = grade(ev.read_rows(separated)).rows[0].scaled
    assert against_a is not None and with_repeats is not None and with_separator is not None
    assert with_repeats > against_a + 1.0
    assert with_separator == with_repeats
