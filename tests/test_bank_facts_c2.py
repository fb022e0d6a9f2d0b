"""Facts fixed in the bank (issue 14) for deployment strategies, Kubernetes, database migrations, production
incidents and feature flags: each test reads the bundled question and fails on the text it replaced."""

from __future__ import annotations

import pytest

from content.loader import load_bank
from content.schema import Question


@pytest.fixture(scope="module")
def bank() -> dict[str, Question]:
    return dict(load_bank().questions)


def _flat(text: str) -> str:
    return " ".join(text.split()).lower()


def _signals(question: Question, criterion_id: str) -> list[str]:
    criterion = question.criterion(criterion_id)
    assert criterion is not None, f"{question.id} lost criterion {criterion_id}"
    return [s.lower() for s in criterion.signals]


def test_hpa_answer_does_not_say_removing_replicas_keeps_the_value(bank: dict[str, Question]) -> None:
    answer = _flat(bank["k8s-hpa-replicas-conflict"].model_answer)
    # The old answer: "remove the replicas field ... Kubernetes then keeps the current value on apply".
    assert "keeps the current value" not in answer
    # The first apply after removal deletes the field and the Deployment falls to the default of one replica.
    assert "last-applied-configuration" in answer
    assert "defaults it to 1" in answer or "default of 1" in answer or "one replica" in answer


def test_hpa_answer_gives_the_documented_safe_path(bank: dict[str, Question]) -> None:
    answer = _flat(bank["k8s-hpa-replicas-conflict"].model_answer)
    client_side = "edit-last-applied" in answer or "set-last-applied" in answer
    server_side = "server-side apply" in answer and "ownership" in answer
    assert client_side and server_side


def test_hpa_answer_knows_ignore_differences_only_changes_the_diff(bank: dict[str, Question]) -> None:
    question = bank["k8s-hpa-replicas-conflict"]
    answer = _flat(question.model_answer)
    assert "respectignoredifferences=true" in answer
    # The old answer said ignoreDifferences alone stops Argo CD from self-healing the value back.
    assert "neither reports drift nor self-heals" not in answer
    assert any("ignoredifferences" in s for m in question.misconceptions for s in m.signals)


def test_hpa_rubric_rewards_the_safe_migration_not_plain_removal(bank: dict[str, Question]) -> None:
    question = bank["k8s-hpa-replicas-conflict"]
    rewarded = [s for c in question.rubric for s in c.signals]
    assert "remove the replicas field" not in [s.lower() for s in rewarded]
    assert "edit-last-applied" in _signals(question, "safe-removal")


def test_kafka_question_separates_assign_from_static_membership(bank: dict[str, Question]) -> None:
    question = bank["deploy-canary-kafka-consumer"]
    answer = _flat(question.model_answer)
    # "static assignment" conflated consumer.assign() with static group membership (group.instance.id).
    assert "static assignment" not in answer
    assert "static assignment" not in _signals(question, "split-mechanism")
    assert "consumer.assign()" in answer
    assert "group.instance.id" in answer and "does not pin partitions" in answer


def test_kafka_question_does_not_claim_a_separate_group_can_take_a_subset(bank: dict[str, Question]) -> None:
    answer = _flat(bank["deploy-canary-kafka-consumer"].model_answer)
    # The old answer: "a separate consumer group ... reading a chosen subset of partitions while the main
    # group skips those" - a subscribed group cannot skip partitions; only manual assignment splits them.
    assert "main group skips those" not in answer
    assert "no automatic rebalancing" in answer


def test_canary_cluster_is_thinned_to_three(bank: dict[str, Question]) -> None:
    def about_canaries(q: Question) -> bool:
        # A canary question leads with the canary tag or is about canary analysis; a question that
        # compares rolling, blue-green and canary is not part of the cluster.
        return bool(q.tags) and q.tags[0] == "canary" or "canary-analysis" in q.tags

    deployment = [q for q in bank.values() if q.category.value == "deployment-strategies"]
    canary = [q.id for q in deployment if about_canaries(q)]
    # Issue 14: canary was 6 of 11 deployment questions (7 by title); at most 3 remain.
    assert len(canary) <= 3, canary
    assert len(deployment) >= 16


def test_backfill_enforces_not_null_through_a_validated_check(bank: dict[str, Question]) -> None:
    answer = _flat(bank["dbm-billion-row-backfill"].model_answer)
    # The old answer added "the NOT NULL constraint as NOT VALID followed by VALIDATE", which PostgreSQL's
    # SET NOT NULL does not offer; the lock-light path is a NOT VALID check, VALIDATE, then SET NOT NULL.
    assert "check (tenant_region is not null) not valid" in answer
    assert answer.index("validate constraint") < answer.index("set not null")
