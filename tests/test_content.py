"""The bundled question bank: schema, coverage, uniqueness, and that the grader can grade it."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import pytest
from rapidfuzz import fuzz

from bot.grading.offline import OfflineGrader, TermWeights
from content.check import OFF_TOPIC
from content.loader import BUNDLED_DIR, ContentError, QuestionBank, load_bank, load_file, validate_paths
from content.schema import Category, Difficulty, Format

NAMED_CATEGORIES = [c for c in Category if c is not Category.CUSTOM]


@pytest.fixture(scope="module")
def bank() -> QuestionBank:
    return load_bank()


@pytest.fixture(scope="module")
def grader(bank: QuestionBank) -> OfflineGrader:
    return OfflineGrader(TermWeights.from_documents(q.model_answer for q in bank.all()))


def test_every_bundled_file_validates() -> None:
    assert validate_paths([BUNDLED_DIR]) == []


def test_coverage(bank: QuestionBank) -> None:
    questions = bank.all()
    assert len(questions) >= 150
    per_category = Counter(q.category for q in questions)
    assert {c: per_category[c] for c in NAMED_CATEGORIES if per_category[c] < 8} == {}
    assert set(q.difficulty for q in questions) == set(Difficulty)
    assert set(f for q in questions for f in q.formats) == set(Format)


def test_no_near_duplicate_prompts(bank: QuestionBank) -> None:
    prompts = [(q.id, " ".join(q.prompt.lower().split())) for q in bank.all()]
    close = [(a, b, r) for (a, pa), (b, pb) in itertools.combinations(prompts, 2) if (r := fuzz.ratio(pa, pb)) >= 90]
    assert close == []


def test_every_model_answer_scores_high_and_off_topic_low(bank: QuestionBank, grader: OfflineGrader) -> None:
    low = {q.id: s for q in bank.all() if (s := grader.grade_sync(q, q.model_answer).score) < 8}
    off = {q.id: s for q in bank.all() if (s := grader.grade_sync(q, OFF_TOPIC).score) > 2}
    assert low == {} and off == {}


def test_follow_ups_cover_two_criteria(bank: QuestionBank) -> None:
    thin = [q.id for q in bank.all() if len({f.criterion for f in q.follow_ups}) < 2]
    assert thin == []


def test_broken_file_names_file_question_and_field(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "questions:\n"
        "  - id: pack-broken\n    title: Broken\n    prompt: A prompt that is long enough.\n"
        "    model_answer: A model answer that is long enough to pass.\n"
        "    rubric:\n      - id: only\n        description: A criterion description\n        weight: -1\n        signals: [a]\n"
    )
    _, problems = load_file(broken)
    assert problems and str(broken) in problems[0] and "'pack-broken'" in problems[0] and "rubric.0.weight" in problems[0]


def test_pack_adds_questions_and_disables_bundled_ones(tmp_path: Path, bank: QuestionBank) -> None:
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "pack.yaml").write_text("name: team\ndisable_categories: [kubernetes]\n")
    (pack / "ours.yaml").write_text(
        "questions:\n  - id: team-our-deploy\n    title: Our deploy\n"
        "    prompt: Walk through how our service reaches production today.\n"
        "    model_answer: Merge to main, the pipeline builds one image, staging runs smoke tests, then we promote it.\n"
    )
    merged = load_bank([pack])
    assert merged.get("team-our-deploy") is not None
    assert not any(q.category is Category.KUBERNETES for q in merged.all())
    assert len(merged) == len(bank) - sum(q.category is Category.KUBERNETES for q in bank.all()) + 1


def test_duplicate_id_names_both_files(tmp_path: Path, bank: QuestionBank) -> None:
    existing = bank.all()[0]
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "dup.yaml").write_text(
        f"questions:\n  - id: {existing.id}\n    title: Dup\n    prompt: A prompt long enough here.\n"
        "    model_answer: A model answer that is long enough to pass.\n"
    )
    with pytest.raises(ContentError) as caught:
        load_bank([pack])
    assert str(bank.sources[existing.id]) in str(caught.value) and str(pack / "dup.yaml") in str(caught.value)


def test_version_changes_when_content_changes(bank: QuestionBank) -> None:
    q = bank.all()[0]
    edited = q.model_copy(update={"model_answer": q.model_answer + " One more sentence."})
    assert edited.version != q.version and len(q.version) == 12
