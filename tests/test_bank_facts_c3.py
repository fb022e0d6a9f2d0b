"""Facts fixed or added in the bank (issue 14) for branching-versioning, release-metrics, release-governance,
git-in-practice and semver-library-releases: each test reads the bundled question and fails on the text it
replaced (or on its absence, for questions that did not exist)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from content.loader import BUNDLED_DIR, load_bank
from content.schema import Question

# The regular expression published on semver.org (SemVer 2.0.0, "suggested regular expression").
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
MY_FILES = ["branching-versioning", "release-metrics", "release-governance", "git-in-practice", "semver-library-releases"]


@pytest.fixture(scope="module")
def bank() -> dict[str, Question]:
    return dict(load_bank().questions)


def _flat(text: str) -> str:
    return " ".join(text.split()).lower()


def _my_questions(bank: dict[str, Question]) -> list[Question]:
    ids: list[str] = []
    for name in MY_FILES:
        raw = yaml.safe_load(Path(BUNDLED_DIR, f"{name}.yaml").read_text(encoding="utf-8"))
        ids += [q["id"] for q in raw["questions"]]
    return [bank[i] for i in ids]


def _precedence_key(version: str) -> tuple:
    """SemVer 2.0.0 precedence (section 11), written from the spec, build metadata ignored."""
    core, _, _build = version.partition("+")
    main, _, pre = core.partition("-")
    numbers = tuple(int(p) for p in main.split("."))
    if not pre:
        return (numbers, (1,))
    fields = tuple((0, int(f), "") if f.isdigit() else (1, 0, f) for f in pre.split("."))
    return (numbers, (0, fields))


def test_dora_is_framed_as_five_delivery_metrics_with_rework_rate(bank: dict[str, Question]) -> None:
    q = bank["metrics-dora-delivery-basics"]
    answer = _flat(q.model_answer)
    assert "five" in answer and "deployment rework rate" in answer
    assert "failed deployment recovery time" in answer
    assert any("rework" in c.id for c in q.rubric)
    assert any(r.url.startswith("https://dora.dev/") for r in q.references)


def test_no_question_of_mine_calls_dora_four_metrics(bank: dict[str, Question]) -> None:
    for q in _my_questions(bank):
        for text in (q.title, q.prompt, q.model_answer):
            assert not re.search(r"\bfour dora metrics\b|\bthe four dora\b", _flat(text)), q.id


def test_dora_throughput_group_includes_recovery_time(bank: dict[str, Question]) -> None:
    # dora.dev: change lead time, deployment frequency and failed deployment recovery time are throughput;
    # change fail rate and deployment rework rate are instability.
    answer = _flat(bank["metrics-dora-delivery-basics"].model_answer)
    assert re.search(r"lead time, deployment frequency and recovery time as throughput", answer)
    assert re.search(r"change fail rate and rework rate as instability", answer)


def test_dora_cluster_is_thinned(bank: dict[str, Question]) -> None:
    metrics = [q for q in bank.values() if q.category.value == "release-metrics"]
    dora_titled = [q.id for q in metrics if "dora" in _flat(q.title + " " + q.prompt)]
    assert len(dora_titled) <= 3, dora_titled
    assert "metrics-org-wide-dora-platform" not in bank and "metrics-dora-gaming-goodhart" not in bank


def test_backport_never_rewards_forward_porting(bank: dict[str, Question]) -> None:
    for q in _my_questions(bank):
        for c in q.rubric:
            if re.search(r"forward|upstream|main-first", c.id):
                assert not any("backport" in s.lower() for s in c.signals), (q.id, c.id)
    forward = bank["branch-hotfix-while-main-diverged"].criterion("forward-port")
    assert forward is not None and "backport" not in [s.lower() for s in forward.signals]


def test_skipping_gates_is_not_a_signal_of_the_hotfix_path(bank: dict[str, Question]) -> None:
    for q in _my_questions(bank):
        for c in q.rubric:
            assert not any("skip the gates" in s.lower() for s in c.signals), (q.id, c.id)


def test_semver_precedence_chain_in_the_sorting_question_is_correct(bank: dict[str, Question]) -> None:
    answer = " ".join(bank["semver-sort-tags-script"].model_answer.split())
    chain = re.search(r"1\.0\.0-alpha(?: < [0-9A-Za-z.+-]*[0-9A-Za-z])+", answer)
    assert chain, "the spec's precedence chain is missing"
    versions = [v.strip() for v in chain.group(0).split("<")]
    assert len(versions) >= 6
    for v in versions:
        assert SEMVER.match(v), v
    keys = [_precedence_key(v) for v in versions]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert _precedence_key("1.0.0-rc.1") < _precedence_key("1.0.0")


def test_sorting_question_states_build_metadata_is_ignored_and_uses_official_regex(bank: dict[str, Question]) -> None:
    q = bank["semver-sort-tags-script"]
    answer = _flat(q.model_answer)
    assert "build metadata" in answer and "ignored for precedence" in answer
    assert SEMVER.pattern in "".join(q.model_answer.split())
    assert _precedence_key("1.0.0+build.5") == _precedence_key("1.0.0+build.9")


def test_example_versions_in_semver_questions_are_valid(bank: dict[str, Question]) -> None:
    # Every MAJOR.MINOR.PATCH-looking token with a pre-release or build part must be valid SemVer.
    for q in _my_questions(bank):
        if q.category.value != "semver-library-releases":
            continue
        for token in re.findall(r"\b\d+\.\d+\.\d+[-+][0-9A-Za-z.+-]*[0-9A-Za-z]", q.model_answer):
            assert SEMVER.match(token), (q.id, token)


def test_zero_major_caret_range(bank: dict[str, Question]) -> None:
    answer = _flat(bank["semver-zero-x-caret"].model_answer)
    assert "^0.8.3 means >=0.8.3 <0.9.0" in answer
    assert "^0.0.3" in answer and "only 0.0.3" in answer
    assert "anything may change" in answer


def test_revert_of_merge_needs_mainline_and_revert_the_revert(bank: dict[str, Question]) -> None:
    answer = _flat(bank["git-revert-merge-commit"].model_answer)
    assert "git revert -m 1" in answer
    assert "revert the revert" in answer
    assert "ancestors of main" in answer


def test_bisect_run_skip_code_is_125(bank: dict[str, Question]) -> None:
    answer = bank["git-bisect-run-regression"].model_answer
    assert "exit 125" in answer and "git bisect run" in answer


def test_registry_yank_and_unpublish_rules(bank: dict[str, Question]) -> None:
    answer = _flat(bank["semver-yank-bad-release"].model_answer)
    assert "pep 592" in answer and "== or ===" in answer
    assert "72 hours" in answer
    assert "never reused" in answer


def test_maven_central_is_immutable_and_ossrh_retired(bank: dict[str, Question]) -> None:
    answer = _flat(bank["semver-maven-central-release"].model_answer)
    assert "ossrh" in answer and "shut down" in answer
    assert "cannot be deleted or replaced" in answer
    assert "-sources.jar" in answer and "-javadoc.jar" in answer


def test_go_major_versions_need_module_path_suffix(bank: dict[str, Question]) -> None:
    answer = _flat(bank["semver-major-version-migration"].model_answer)
    assert "/v2 suffix in its module path" in answer


def test_npm_trusted_publishing_needs_recent_cli(bank: dict[str, Question]) -> None:
    answer = _flat(bank["semver-npm-provenance-publish"].model_answer)
    assert "trusted publishing" in answer and "11.5.1" in answer


def test_every_question_of_mine_cites_a_source(bank: dict[str, Question]) -> None:
    for q in _my_questions(bank):
        assert q.references, q.id
        assert all(r.url.startswith("https://") for r in q.references), q.id
