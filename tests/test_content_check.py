"""`python -m content.check`: each author rule, shown failing on an example file that breaks only it.

tests/data/check_examples/good.yaml passes every rule; each case below changes one thing in a copy.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from content.check import BankContext, check

GOOD = Path(__file__).parent / "data" / "check_examples" / "good.yaml"
Question = dict[str, Any]


def criterion(q: Question, cid: str) -> dict[str, Any]:
    return next(c for c in q["rubric"] if c["id"] == cid)


def calibration(q: Question, style: str) -> dict[str, Any]:
    return next(a for a in q["calibration"] if a["style"] == style)


def generic_word(q: Question) -> None:
    criterion(q, "provenance")["signals"].append("owner")


def signal_in_prompt(q: Question) -> None:
    criterion(q, "drift")["signals"].append("passed staging")


def prompt_meets_a_criterion(q: Question) -> None:
    # The prompt now says what the provenance criterion asks for: an echo of it would earn the point.
    q["prompt"] += " Each build already publishes a signed build record."


def weak_model_answer(q: Question) -> None:
    q["model_answer"] = " ".join(["We should look into why the release behaved differently and improve the process."] * 12)


def off_topic_scores(q: Question) -> None:
    criterion(q, "provenance")["signals"].append("sourdough loaf")
    criterion(q, "drift")["signals"].append("starter the night before")
    criterion(q, "build-once")["signals"].append("fridge")


def model_answer_asserts_a_misconception(q: Question) -> None:
    q["misconceptions"][0]["signals"].append("byte for byte")


def calibration_out_of_band(q: Question) -> None:
    calibration(q, "vague")["expected"] = 6.0


def calibration_order(q: Question) -> None:
    # A "partial" answer that is in fact the thorough one: in band (widened), but not below it.
    calibration(q, "partial")["text"] = calibration(q, "thorough")["text"]
    calibration(q, "partial")["band"] = [0.0, 10.0]


def calibration_copies_model_answer(q: Question) -> None:
    calibration(q, "thorough")["text"] += (
        " Every later stage deploys that same binary, referenced by its sha256 digest rather than a tag."
    )


def missing_calibration_style(q: Question) -> None:
    q["calibration"] = [a for a in q["calibration"] if a["style"] != "wrong"]


def missing_reference(q: Question) -> None:
    q["references"] = []


def missing_why(q: Question) -> None:
    q["misconceptions"][0]["why"] = ""


CASES: list[tuple[str, Callable[[Question], None], str]] = [
    ("generic single word", generic_word, "signal 'owner' is a single generic word"),
    ("signal in the prompt", signal_in_prompt, "signal 'passed staging' is already in the prompt"),
    ("prompt meets a criterion", prompt_meets_a_criterion, "rubric.provenance: the prompt alone meets it"),
    ("model answer below 8", weak_model_answer, "model answer scores"),
    ("off-topic above 2", off_topic_scores, "off-topic paragraph scores"),
    ("model answer asserts a misconception", model_answer_asserts_a_misconception, "model answer asserts misconception"),
    ("calibration out of band", calibration_out_of_band, "calibration.5 (vague): offline grade"),
    ("calibration order", calibration_order, "is not above"),
    ("calibration copies the model answer", calibration_copies_model_answer, "copies the model answer"),
    ("a calibration style missing", missing_calibration_style, "missing wrong"),
    ("senior question without a reference", missing_reference, "references: senior and staff questions cite"),
    ("misconception without why", missing_why, "misconceptions.1.why"),
]


@pytest.fixture(scope="module")
def context() -> BankContext:
    return BankContext.load()


def test_the_example_passes_every_rule(context: BankContext) -> None:
    assert check([GOOD], context=context) == []


@pytest.mark.parametrize(("name", "breaks", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_rule_fails_its_example(
    context: BankContext, tmp_path: Path, name: str, breaks: Callable[[Question], None], expected: str
) -> None:
    data = yaml.safe_load(GOOD.read_text(encoding="utf-8"))
    broken = copy.deepcopy(data)
    breaks(broken["questions"][0])
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken, sort_keys=False), encoding="utf-8")
    problems = check([path], context=context)
    assert any(expected in p for p in problems), problems


def test_the_whole_bundled_bank_passes_the_author_check(context: BankContext) -> None:
    from content.loader import BUNDLED_DIR, _yaml_files

    problems = check(_yaml_files(BUNDLED_DIR), context=context)
    assert problems == [], f"{len(problems)} problem(s), first: {problems[:10]}"
