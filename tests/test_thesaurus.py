"""The thesaurus: bundled groups plus a team pack's, merged, used by the bot's own grader."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import offline_grader_for
from bot.grading.model import Verdict
from content.loader import ContentError, load_bank
from content.thesaurus import load_thesaurus

PACK_QUESTION = """
questions:
  - id: pack-freeze
    title: Our release freeze
    category: custom
    prompt: How does our team prepare the quarterly release?
    rubric:
      - id: freeze
        description: Freezes the release branch two days before.
        signals: ["zorbify the branch"]
    model_answer: We zorbify the branch two days before the release and only take fixes after that.
"""


def write_pack(folder: Path, thesaurus: str | None) -> Path:
    folder.mkdir()
    (folder / "questions.yaml").write_text(PACK_QUESTION, encoding="utf-8")
    if thesaurus is not None:
        (folder / "thesaurus.yaml").write_text(thesaurus, encoding="utf-8")
    return folder


def test_the_bundled_thesaurus_loads_and_merges_groups_that_share_an_entry(tmp_path: Path) -> None:
    bundled = tmp_path / "bundled"
    bundled.mkdir()
    (bundled / "a.yaml").write_text("groups:\n  - [rollback, roll back]\n", encoding="utf-8")
    (bundled / "b.yaml").write_text("groups:\n  - [Roll Back, revert the deploy]\n", encoding="utf-8")
    groups = load_thesaurus(bundled_dir=bundled).groups
    assert len(groups) == 1 and set(groups[0]) == {"rollback", "roll back", "Roll Back", "revert the deploy"}


def test_a_pack_thesaurus_reaches_the_bots_grader(tmp_path: Path) -> None:
    pack = write_pack(tmp_path / "pack", "groups:\n  - [zorbify the branch, freeze the branch]\n")
    bank = load_bank([pack])
    grader = offline_grader_for(bank)
    grade = grader.grade_sync(bank.get("pack-freeze"), "Two days before, we freeze the branch and only take fixes.")
    assert grade.criteria[0].verdict is Verdict.HIT

    without = load_bank([write_pack(tmp_path / "bare", None)])
    grade = offline_grader_for(without).grade_sync(without.get("pack-freeze"), "Two days before, we freeze the branch.")
    assert grade.criteria[0].verdict is Verdict.MISSED


def test_a_broken_pack_thesaurus_names_the_file(tmp_path: Path) -> None:
    pack = write_pack(tmp_path / "pack", "groups:\n  - [only one entry]\n")
    with pytest.raises(ContentError, match="thesaurus.yaml"):
        load_bank([pack])
