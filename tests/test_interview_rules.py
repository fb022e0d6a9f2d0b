"""Pure interview rules, table-driven: state machine, selection, follow-ups, SM-2 reviews, parsing."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from bot.grading.model import Verdict
from bot.interview.followups import FollowUpBank, follow_up_question_id, heavy_criteria, plan_follow_ups
from bot.interview.request import Kind, Request, parse_request
from bot.interview.review import schedule
from bot.interview.scorecard import bar, build_scorecard
from bot.interview.selection import MIXED, choose_questions
from bot.interview.service import split_command
from bot.interview.state import EndReason, FollowUpTurn, InterviewState, Phase, Prompt, Slot, SlotStatus
from content.loader import QuestionBank, load_bank
from content.schema import FollowUp

NOW = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)


def state_of(*ids: str) -> InterviewState:
    return InterviewState(MIXED, None, [Slot(i, "v1", i.title(), "artifacts") for i in ids])


def roundtrip(state: InterviewState) -> InterviewState:
    return InterviewState.from_json(json.loads(json.dumps(state.to_json())))


# -- state machine ---------------------------------------------------------------------------


def test_state_walks_question_follow_ups_and_finish_and_survives_json() -> None:
    state = state_of("a", "b")
    assert state.begin(NOW).prompt is Prompt.QUESTION and state.slots[0].status is SlotStatus.ASKED
    state.open_turn()
    state.attach(11)
    fu = [FollowUpTurn("x", "Why x?", 0.4), FollowUpTurn("y", "Why y?", 0.2)]
    state = roundtrip(state)
    assert state.main_graded(99, 5.0, {}, fu, NOW) is None  # not the awaited answer: ignored
    assert state.main_graded(11, 5.0, {"x": "missed"}, fu, NOW).prompt is Prompt.FOLLOW_UP
    assert state.phase is Phase.FOLLOW_UP and state.current_follow_up.criterion == "x"
    state.attach(12)
    state = roundtrip(state)
    assert state.follow_up_graded(12, Verdict.HIT, NOW).prompt is Prompt.FOLLOW_UP
    assert state.slots[0].follow_ups[0].recovered == 2.0  # 10 * 0.4 * 0.5
    skipped = state.skip(NOW)
    assert skipped.prompt is Prompt.QUESTION and state.index == 1
    assert state.slots[0].score == 7.0 and state.slots[0].follow_ups[1].skipped
    state.attach(13)
    end = roundtrip(state).finish(EndReason.ENDED)
    assert end.prompt is Prompt.SCORECARD and end.discard_answer == 13


@pytest.mark.parametrize(
    ("base", "verdict", "share", "expected"),
    [
        (5.0, Verdict.HIT, 2 / 7, 6.4),
        (5.0, Verdict.PARTIAL, 2 / 7, 5.7),
        (5.0, Verdict.MISSED, 2 / 7, 5.0),
        (9.5, Verdict.HIT, 0.5, 10.0),  # capped
    ],
)
def test_follow_up_recovery_is_partial(base: float, verdict: Verdict, share: float, expected: float) -> None:
    state = state_of("a")
    state.begin(NOW)
    state.attach(1)
    state.main_graded(1, base, {}, [FollowUpTurn("c", "Why c?", share)], NOW)
    state.attach(2)
    assert state.follow_up_graded(2, verdict, NOW).prompt is Prompt.SCORECARD
    assert state.slots[0].score == expected


def test_skip_pause_resume_and_finish_rules() -> None:
    state = state_of("a", "b", "c")
    state.begin(NOW)
    assert state.take_hint(["h1"]) == "h1" and state.take_hint(["h1"]) is None
    assert state.pause() and not state.pause()
    assert state.resume().prompt is Prompt.QUESTION and not state.paused
    state.attach(5)
    step = state.skip(NOW)
    assert step.discard_answer == 5 and state.slots[0].score == 0.0 and state.slots[0].counted
    step = state.finish(EndReason.IDLE)
    assert step.prompt is Prompt.SCORECARD and state.end_reason is EndReason.IDLE
    assert [s.status for s in state.slots] == [SlotStatus.SKIPPED, SlotStatus.UNANSWERED, SlotStatus.WAITING]
    assert state.finish(EndReason.ENDED).prompt is Prompt.NOTHING


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("done", ("done", "")),
        (" Skip. ", ("skip", "")),
        ("/hint", ("hint", "")),
        ("my answer\nmore\ndone", ("done", "my answer\nmore")),
        ("done with the first part, now the rest", (None, "done with the first part, now the rest")),
        ("end-to-end tests", (None, "end-to-end tests")),
    ],
)
def test_split_command(text: str, expected: tuple[str | None, str]) -> None:
    assert split_command(text) == expected


# -- follow-ups ---------------------------------------------------------------------------------


def test_follow_ups_only_for_missed_heavy_criteria_with_authored_asks(test_bank: QuestionBank) -> None:
    canary = test_bank.get("test-canary")
    assert heavy_criteria(canary) == ["split", "baseline", "rollback"]
    missed_all = {"split": "missed", "baseline": "missed", "metrics": "missed", "rollback": "missed"}
    assert [f.criterion for f in plan_follow_ups(canary, missed_all)] == ["baseline", "rollback"]
    assert [f.criterion for f in plan_follow_ups(canary, {**missed_all, "baseline": "partial"})] == ["rollback"]
    assert plan_follow_ups(canary, {**missed_all, "baseline": "hit", "rollback": "hit"}) == []
    assert plan_follow_ups(test_bank.get("test-reference-only"), {}) == []
    # A light criterion is never followed up, even with an authored ask.
    light = canary.model_copy(update={"follow_ups": [FollowUp(criterion="metrics", ask="Which metrics would you compare?")]})
    assert plan_follow_ups(light, missed_all) == []
    assert [f.criterion for f in plan_follow_ups(canary, missed_all, limit=1)] == ["baseline"]


def test_follow_up_bank_resolves_derived_questions(test_bank: QuestionBank) -> None:
    bank = FollowUpBank.wrap(test_bank)
    derived = bank.get("test-canary~baseline")
    assert derived is not None and [c.id for c in derived.rubric] == ["baseline"]
    assert "fresh baseline" in derived.prompt and derived.version != bank.get("test-canary").version
    assert bank.get("test-canary~nope") is None and bank.get("nope~baseline") is None
    assert [q.id for q in bank.all()] == [q.id for q in test_bank.all()]  # never listed
    assert follow_up_question_id("q" * 95, "criterion") == "q" * 95  # too long for the column: whole question


# -- selection ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled() -> QuestionBank:
    return load_bank()


@pytest.mark.parametrize("fmt", ["pipeline-design", "scripting", "incident-process", "behavioral"])
@pytest.mark.parametrize("difficulty", [None, "senior"])
def test_selection_honours_format_difficulty_and_variety(bundled: QuestionBank, fmt: str, difficulty: str | None) -> None:
    chosen = choose_questions(bundled.all(), fmt=fmt, difficulty=difficulty, count=5, seed=7)
    assert len(chosen) == 5 and len({q.id for q in chosen}) == 5
    assert all(fmt in [f.value for f in q.formats] for q in chosen)
    if difficulty:
        exact = [q for q in bundled.all() if fmt in [f.value for f in q.formats] and q.difficulty.value == difficulty]
        assert sum(q.difficulty.value == difficulty for q in chosen) == min(5, len(exact))


def test_mixed_rotates_formats_and_avoids_recent_questions(bundled: QuestionBank) -> None:
    chosen = choose_questions(bundled.all(), fmt=MIXED, difficulty=None, count=5, seed=1)
    rounds = ["pipeline-design", "scripting", "incident-process", "behavioral", "concept"]
    assert all(r in [f.value for f in q.formats] for r, q in zip(rounds, chosen, strict=True))
    assert len({q.category for q in chosen}) == 5
    recent = {q.id for q in bundled.all()[:150]}
    fresh = choose_questions(bundled.all(), fmt=MIXED, difficulty=None, count=4, recent=recent, seed=1)
    assert not {q.id for q in fresh} & recent
    # With too few unseen questions, recent ones fill the rest rather than a short interview.
    assert len(choose_questions(bundled.all(), fmt=MIXED, difficulty=None, count=6, recent=recent, seed=1)) == 6
    # Review ids lead, whatever their format; same seed, same interview.
    first = choose_questions(bundled.all(), fmt="scripting", difficulty=None, count=3, first=[bundled.ids()[0]], seed=3)
    assert first[0].id == bundled.ids()[0]
    assert first == choose_questions(bundled.all(), fmt="scripting", difficulty=None, count=3, first=[bundled.ids()[0]], seed=3)


# -- spaced repetition ------------------------------------------------------------------------------


def test_review_queue_entry_and_growing_intervals() -> None:
    assert schedule(None, 6.0, NOW) is None  # good enough: never enters
    card = schedule(None, 3.0, NOW)
    assert card is not None and card.interval_days == 1 and card.due_at == NOW + dt.timedelta(days=1)
    intervals = []
    for score in (7.0, 8.0, 9.0, 9.0):
        card = schedule(card, score, card.due_at)
        intervals.append(card.interval_days)
    assert intervals[:2] == [2.0, 6.0] and intervals[2] > 6.0 and intervals[3] > intervals[2]
    failed = schedule(card, 4.0, card.due_at)
    assert failed.interval_days == 1 and failed.repetitions == 0 and failed.easiness < card.easiness
    worst = None
    for _ in range(10):
        worst = schedule(worst, 0.0, NOW)
    assert worst.easiness == 1.3


# -- parsing and scorecard ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), Request()),
        (("scripting", "senior", "3"), Request(Kind.START, "scripting", "senior", 3)),
        (("3", "MIXED"), Request(Kind.START, MIXED, None, 3)),
        (("review", "2"), Request(Kind.REVIEW, MIXED, None, 2)),
        (("team",), Request(Kind.TEAM)),
    ],
)
def test_parse_request(args: tuple[str, ...], expected: Request) -> None:
    assert parse_request(args) == expected


@pytest.mark.parametrize("args", [("0",), ("11",), ("frontend",), ("scripting", "review")])
def test_parse_request_errors_say_how(args: tuple[str, ...]) -> None:
    error = parse_request(args)
    assert isinstance(error, str) and "interview [format] [difficulty] [n]" in error


def test_scorecard_counts_skips_lists_gaps_and_trend(test_bank: QuestionBank) -> None:
    state = InterviewState(
        MIXED,
        None,
        [
            Slot("test-canary", "v", "Canary", "deployment-strategies", status=SlotStatus.GRADED, base_score=5.0,
                 verdicts={"split": "hit", "baseline": "missed", "metrics": "hit", "rollback": "missed"},
                 follow_ups=[FollowUpTurn("baseline", "?", 2 / 7, verdict="hit", recovered=1.43),
                             FollowUpTurn("rollback", "?", 2 / 7, verdict="partial", recovered=0.71)]),
            Slot("test-expand-contract", "v", "Rename", "database-migrations", status=SlotStatus.SKIPPED),
            Slot("test-reference-only", "v", "Promote", "artifacts", status=SlotStatus.UNANSWERED),
        ],
        end_reason=EndReason.ENDED,
    )  # fmt: skip
    card = build_scorecard(state, test_bank, earlier=[2.0, 3.0])
    assert card.partial and card.average == pytest.approx((7.1 + 0.0) / 2, abs=0.05)
    assert dict(card.categories) == {"deployment-strategies": 7.1, "database-migrations": 0.0}
    assert any(g.startswith("Rolls back automatically") and "partly recovered" in g for g in card.gaps)
    assert not any(g.startswith("Compares against a baseline") for g in card.gaps)  # recovered in the follow-up
    assert "Skipped: Rename" in card.gaps and any(s.startswith("Routes a small percentage") for s in card.strengths)
    assert card.study[0].startswith("database-migrations (0.0/10): review test-expand-contract")
    assert card.change == round(card.average - 3.0, 1) and card.change > 0
    assert bar(6.4) == "██████░░░░" and bar(0) == "░" * 10 and bar(10) == "█" * 10


def test_bundled_bank_questions_have_follow_ups_for_heavy_criteria(bundled: QuestionBank) -> None:
    """The interview relies on authored follow-ups: most questions can follow up on a missed heavy point."""
    covered = [q for q in bundled.all() if any(f.criterion in heavy_criteria(q) for f in q.follow_ups)]
    assert len(covered) / len(bundled) > 0.8
