"""Facts fixed in the bank (issue 14) for fundamentals, CI/CD, CI platform, scripting and developer
experience: each test reads the bundled question and fails on the text it replaced."""

from __future__ import annotations

import re

import pytest

from content.loader import load_bank
from content.schema import Question

APPLE_SCHEDULE = ["1%", "2%", "5%", "10%", "20%", "50%", "100%"]


@pytest.fixture(scope="module")
def bank() -> dict[str, Question]:
    return dict(load_bank().questions)


def _flat(text: str) -> str:
    return " ".join(text.split()).lower()


def _ios_sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.;:])\s+", " ".join(text.split())) if re.search(r"\bios\b|apple|phased release", s, re.I)]


@pytest.mark.parametrize("qid", ["fund-mobile-build-to-all-users", "fund-mobile-crash-during-rollout"])
def test_ios_phased_release_is_apples_fixed_seven_day_schedule(bank: dict[str, Question], qid: str) -> None:
    answer = bank[qid].model_answer
    flat = _flat(answer)
    assert "seven-day" in flat or "7-day" in flat or "seven days" in flat
    # Apple's published schedule, in order, in the answer (the old answers only said "seven days").
    schedule = r",?\s*(?:and |then )?".join(re.escape(p) for p in APPLE_SCHEDULE)
    assert re.search(schedule, flat), "the answer should give Apple's 1, 2, 5, 10, 20, 50, 100% schedule"
    assert "30 days" in flat, "pausing is limited to 30 days in total"


def test_play_percentages_are_chosen_by_the_developer(bank: dict[str, Question]) -> None:
    flat = _flat(bank["fund-mobile-build-to-all-users"].model_answer)
    assert "i choose the percentage" in flat
    assert "never raises it by itself" in flat
    # No sentence about iOS may claim developer-chosen 1/10/50-style steps.
    for sentence in _ios_sentences(bank["fund-mobile-build-to-all-users"].model_answer):
        assert not re.search(r"\bchoose\b|\bpick\b", sentence, re.I) or "cannot choose" in sentence.lower(), sentence


def test_mobile_rubric_rewards_the_store_difference(bank: dict[str, Question]) -> None:
    question = bank["fund-mobile-build-to-all-users"]
    criterion = question.criterion("staged-rollout")
    assert criterion is not None
    assert "fixed seven-day schedule" in _flat(criterion.description)
    assert any("ios phased release lets you pick" in m.claim.lower() for m in question.misconceptions)


def test_remote_cache_incident_explains_cached_test_results(bank: dict[str, Question]) -> None:
    # The prompt says CI stayed green; the old model answer never said why (test results come from the cache).
    question = bank["cicd-remote-cache-poisoned"]
    flat = _flat(question.model_answer)
    assert "test results are cached" in flat
    assert "--nocache_test_results" in flat
    criterion = question.criterion("cached-test-results")
    assert criterion is not None and criterion.weight >= 2


def test_ci_cd_merge_queue_question_is_not_the_branching_duplicate(bank: dict[str, Question]) -> None:
    # branching-versioning keeps the "400 merges a day" scenario; the CI/CD question is a different one.
    ci_cd = [q for q in bank.values() if q.category.value == "ci-cd-pipelines"]
    assert not any("400 merges a day" in _flat(q.prompt) for q in ci_cd)
    queue = bank["cicd-merge-queue-setup"]
    assert "merge_group" in queue.model_answer


def test_platform_migration_signals_do_not_reward_a_big_bang(bank: dict[str, Question]) -> None:
    criterion = bank["cicd-shared-pipeline-platform"].criterion("migration")
    assert criterion is not None
    assert not any("big bang" in s.lower() for s in criterion.signals)


C1_CATEGORIES = {"ci-cd-pipelines", "ci-platform", "scripting-automation", "developer-experience", "fundamentals"}
ANTI_PATTERN_SIGNALS = ("big bang", "big-bang", "skip the gates", "skip staging", "retry forever")


def test_no_signal_rewards_an_anti_pattern(bank: dict[str, Question]) -> None:
    # The old scripting and CI/CD rubrics listed "big-bang" among the signals of an incremental migration.
    found = [
        (q.id, c.id, s)
        for q in bank.values()
        if q.category.value in C1_CATEGORIES
        for c in q.rubric
        for s in c.signals
        if any(bad in s.lower() for bad in ANTI_PATTERN_SIGNALS)
    ]
    assert found == []


def test_developer_experience_covers_preview_environments_and_test_data(bank: dict[str, Question]) -> None:
    # Issue 14 gap: preview environments and test data; the Jenkins-migration behavioural it replaced duplicated
    # the ci-platform migration question.
    dx = [q for q in bank.values() if q.category.value == "developer-experience"]
    assert any("test data" in _flat(q.prompt + " " + q.model_answer) and "pull request" in _flat(q.model_answer) for q in dx)
    preview = bank["dx-preview-envs-test-data"]
    assert "pseudonymised data is still personal data" in _flat(preview.model_answer)
    assert "dx-cross-org-tooling-migration" not in bank


def test_dora_is_five_metrics_with_rework_rate(bank: dict[str, Question]) -> None:
    # dora.dev lists five software delivery performance metrics since deployment rework rate was added.
    question = bank["dx-measuring-release-experience"]
    flat = _flat(question.model_answer)
    assert "four dora metrics" not in flat
    assert "rework rate" in flat and "failed deployment recovery time" in flat
    criterion = question.criterion("delivery-metrics")
    assert criterion is not None and "five" in criterion.description.lower()
