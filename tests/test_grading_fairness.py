"""Grading fairness, case by case: meaning over wording, polarity, the prompt's own words, honest feedback.

Each table row is one answer sentence and what the offline grader must make of one criterion or
misconception. The question is built here so the cases do not move when the bank is edited.
"""

from __future__ import annotations

import pytest

from bot.grading.model import Verdict
from bot.grading.offline import OfflineGrader, TermWeights
from bot.views import feedback_message
from content.schema import Criterion, Misconception, Question
from content.thesaurus import Thesaurus, load_thesaurus

QUESTION = Question(
    id="fair-incident-release",
    title="A bad release at peak",
    prompt=(
        "Checkout errors jumped right after this morning's release of the payments service. Walk through "
        "what you do in the first hour and what happens in the week after."
    ),
    category="production-incidents",
    difficulty="mid",
    rubric=[
        Criterion(
            id="rollback-first",
            description="Restores service first by rolling back the release, before debugging",
            weight=2,
            signals=["roll back the release", "revert the deploy", "restore service first", "previous version"],
        ),
        Criterion(
            id="watch-metrics",
            description="Watches the login success rate and error rate to confirm recovery",
            signals=["login success rate", "error rate", "confirm recovery"],
        ),
        Criterion(
            id="blameless-review",
            description="Runs a blameless postmortem with a timeline",
            signals=["blameless postmortem", "timeline of events", "blameless review", "incident timeline"],
        ),
        Criterion(
            id="measured-result",
            description="Reports a concrete result with numbers",
            signals=["change failure rate", "lead time", "percent fewer"],
        ),
        Criterion(
            id="release-gates",
            description="Keeps the release gates and adds a check that would have caught it",
            signals=["keep the release gates", "automated canary analysis", "add a regression test"],
        ),
    ],
    misconceptions=[
        Misconception(
            claim="Fix it forward in production yourself before anyone else knows.",
            signals=["fix it myself in production", "hotfix it myself"],
            why="Restoring service comes first and a solo hotfix under pressure adds risk.",
            penalty=2,
        ),
        Misconception(
            claim="Skipping the release gates makes the next release safer.",
            signals=["skip the gates", "bypass the release gates"],
            why="Gates are what catch the next regression.",
            penalty=2,
        ),
    ],
    model_answer=(
        "I would roll back the release to the previous version to restore service first, then watch the error "
        "rate and the login success rate to confirm recovery. Afterwards a blameless postmortem with a timeline of "
        "events, and we keep the release gates but add a regression test and automated canary analysis. Last "
        "time this cut our change failure rate from 15 to 7 percent and lead time to under a day."
    ),
)


@pytest.fixture(scope="module")
def grader() -> OfflineGrader:
    return OfflineGrader(TermWeights.from_documents([QUESTION.model_answer]), thesaurus=load_thesaurus())


def verdict(grader: OfflineGrader, text: str, criterion: str) -> Verdict:
    grade = grader.grade_sync(QUESTION, text)
    return next(c.verdict for c in grade.criteria if c.criterion_id == criterion)


def asserted(grader: OfflineGrader, text: str) -> list[str]:
    return [m.claim for m in grader.asserted_misconceptions(QUESTION, text)]


# Rebuttals and negations: the concept is named but rejected, so it earns nothing (criteria)
# and costs nothing (misconceptions).
REJECTED_CRITERIA = [
    ("I would not roll back the release, the data migration already ran.", "rollback-first"),
    ("We never revert the deploy in this situation.", "rollback-first"),
    ("Don't roll back the release; the schema changed.", "rollback-first"),
    ("dont roll back the release, schema changed", "rollback-first"),
    ("Instead of rolling back the release we ship a fix.", "rollback-first"),
    ("Rather than keep the release gates, drop them for a week.", "release-gates"),
    ("The mistake is to keep the release gates as they are.", "release-gates"),
    ("Automated canary analysis is an anti-pattern here.", "release-gates"),
]
REBUTTED_MISCONCEPTIONS = [
    "I would not fix it myself in production.",
    "Never hotfix it myself, that's how you make it worse.",
    "Whatever happens we don't skip the gates.",
    "The tempting move is to bypass the release gates, but that's exactly wrong.",
    "Instead of trying to hotfix it myself, I roll back.",
    "Avoid the urge to skip the gates.",
]
ASSERTED_MISCONCEPTIONS = [
    "Honestly I'd just fix it myself in production and tell people later.",
    "Next time we skip the gates so releases go faster.",
]
ASSERTED_CRITERIA = [
    # Double negation and contrast: the concept is asserted.
    ("We never skip automated canary analysis.", "release-gates"),
    ("Not only do I roll back the release, I also page the team.", "rollback-first"),
    ("I wouldn't debug first, but roll back the release right away.", "rollback-first"),
]


@pytest.mark.parametrize(("text", "criterion"), REJECTED_CRITERIA)
def test_a_rejected_concept_earns_nothing(grader: OfflineGrader, text: str, criterion: str) -> None:
    assert verdict(grader, text, criterion) is Verdict.MISSED


@pytest.mark.parametrize("text", REBUTTED_MISCONCEPTIONS)
def test_rebutting_a_misconception_costs_nothing(grader: OfflineGrader, text: str) -> None:
    assert asserted(grader, text) == []


@pytest.mark.parametrize("text", ASSERTED_MISCONCEPTIONS)
def test_an_asserted_misconception_costs_points_and_is_named(grader: OfflineGrader, text: str) -> None:
    claims = asserted(grader, text)
    assert len(claims) == 1
    base = "I roll back the release to restore service first and watch the error rate to confirm recovery."
    clean, wrong = grader.grade_sync(QUESTION, base), grader.grade_sync(QUESTION, base + " " + text)
    assert wrong.score <= clean.score - 1.5
    misconception = next(m for m in QUESTION.misconceptions if m.claim == claims[0])
    assert misconception.why.rstrip(".") in wrong.feedback


@pytest.mark.parametrize(("text", "criterion"), ASSERTED_CRITERIA)
def test_double_negation_and_contrast_still_assert(grader: OfflineGrader, text: str, criterion: str) -> None:
    assert verdict(grader, text, criterion) is Verdict.HIT


# Paraphrase: one clear mention in the person's own words earns the point.
PARAPHRASES = [
    ("thesaurus: informal synonym", "Then a no-blame postmortem.", "blameless-review"),
    ("thesaurus: paraphrase", "We write the incident up minute by minute.", "blameless-review"),
    ("abbreviation", "Our CFR dropped a lot after that.", "measured-result"),
    ("typo", "watch login succes rate until it's back", "watch-metrics"),
    ("word order and inflection", "I'd be rolling the release back right away.", "rollback-first"),
    ("glued spelling", "Rollback the release immediately.", "rollback-first"),
    ("informal shorthand", "revert the deploy w/ the on-call, b/c checkout is down", "rollback-first"),
    ("numbers in another form", "We ended up with 46% fewer incidents.", "measured-result"),
]


@pytest.mark.parametrize(("kind", "text", "criterion"), PARAPHRASES, ids=[p[0] for p in PARAPHRASES])
def test_a_paraphrase_earns_the_point(grader: OfflineGrader, kind: str, text: str, criterion: str) -> None:
    assert verdict(grader, text, criterion) is Verdict.HIT


def test_a_paraphrase_without_the_thesaurus_is_missed() -> None:
    # The control for the thesaurus rows: the same words, no thesaurus, no point.
    bare = OfflineGrader(TermWeights.from_documents([QUESTION.model_answer]), thesaurus=Thesaurus())
    assert verdict(bare, "Then a no-blame postmortem.", "blameless-review") is Verdict.MISSED


def test_the_prompt_echoed_back_earns_nothing(grader: OfflineGrader) -> None:
    grade = grader.grade_sync(QUESTION, QUESTION.prompt)
    assert grade.score <= 1.0
    assert all(c.verdict is Verdict.MISSED for c in grade.criteria)


def test_one_mention_is_enough_and_repetition_adds_nothing(grader: OfflineGrader) -> None:
    once = "I roll back the release first, then a blameless postmortem."
    thrice = "I roll back the release first. I roll back the release. I roll back the release. Then a blameless postmortem."
    assert grader.grade_sync(QUESTION, thrice).score <= grader.grade_sync(QUESTION, once).score


def test_feedback_quotes_the_words_and_never_calls_a_quoted_point_missed(grader: OfflineGrader) -> None:
    answer = "lead time fell to under a day and change failure rate to 7%. we rolled back the release within minutes"
    grade = grader.grade_sync(QUESTION, answer)
    text = feedback_message(QUESTION, grade, late=False, points=3).text()
    covered = text.split("Missed:")[0]
    assert "Reports a concrete result with numbers" in covered
    assert "lead time" in covered or "change failure rate" in covered
    missed_part = text.split("Missed:")[1] if "Missed:" in text else ""
    assert "concrete result" not in missed_part
    assert "concrete result" not in grade.feedback  # not sent to study what it covered


def test_a_keyword_list_scores_near_zero_and_lists_nothing_as_covered(grader: OfflineGrader) -> None:
    keywords = "rollback previous version error rate login success rate blameless postmortem timeline canary"
    grade = grader.grade_sync(QUESTION, keywords)
    assert grade.score <= 1.5
    if grade.score == 0:
        assert "Covered" not in feedback_message(QUESTION, grade, late=False, points=0).text()


# Found while repairing rubrics: each of these used to go wrong.
def test_dots_inside_a_version_do_not_end_the_sentence() -> None:
    from bot.grading.concepts import tokenize

    tokens = tokenize("pin 4.0.0 and diff main..release/4.x today. Then ship")[1]
    assert {t.sentence for t in tokens if t.word != "ship" and t.word != "then"} == {0}
    assert tokens[-1].sentence == 1


def test_a_real_word_is_not_a_typo_of_another() -> None:
    from bot.grading.concepts import AnswerText, compile_phrase

    known = frozenset({"server", "semver"})
    assert AnswerText("restart the server", known=known).find(compile_phrase("semver")) == []
    assert AnswerText("follow semvr strictly", known=known).find(compile_phrase("semver")) != []


def test_a_negation_between_the_words_of_a_phrase_turns_it(grader: OfflineGrader) -> None:
    assert verdict(grader, "The release gates are not kept for hotfixes.", "release-gates") is Verdict.MISSED
    assert verdict(grader, "Keep the release gates, always.", "release-gates") is Verdict.HIT


def test_little_words_between_a_phrases_words_do_not_push_them_apart(grader: OfflineGrader) -> None:
    # "confirm ... recovery" with four function words between them still says the signal.
    assert verdict(grader, "we confirm that it is the recovery we wanted", "watch-metrics") is Verdict.HIT
