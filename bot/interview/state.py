"""The interview state machine as plain data plus pure transitions.

Everything an interview needs to continue lives in `InterviewState`, which round-trips through
JSON (`interviews.state`), so any process on the same database resumes exactly where another
left off. Transitions only change the state and say what should be shown next (`Step`); the
service does the I/O (answer rows, grading queue, messages).

    ANSWERING --graded, heavy criterion missed--> FOLLOW_UP --graded/skip--> (next follow-up)
        |  skip / graded without follow-ups            |  last follow-up done
        v                                              v
    next question ANSWERING ... after the last question: FINISHED (end / idle also finish)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from bot.grading.model import Verdict

# A follow-up answer recovers this share of the criterion's part of the score: being prompted
# is worth less than volunteering the point, so recovery is always partial.
RECOVERY_SHARE = 0.5


class Phase(StrEnum):
    ANSWERING = "answering"  # waiting for (or grading) the answer to the current question
    FOLLOW_UP = "follow_up"  # waiting for (or grading) the answer to the current follow-up
    FINISHED = "finished"


class SlotStatus(StrEnum):
    WAITING = "waiting"  # not asked yet
    ASKED = "asked"
    GRADED = "graded"
    SKIPPED = "skipped"
    UNANSWERED = "unanswered"  # the interview ended before an answer was graded


class EndReason(StrEnum):
    COMPLETED = "completed"
    ENDED = "ended"  # the person said `end`
    IDLE = "idle"  # no activity for the idle limit


class Prompt(StrEnum):
    QUESTION = "question"  # show the current question
    FOLLOW_UP = "follow_up"  # show the current follow-up
    SCORECARD = "scorecard"  # the interview just finished
    NOTHING = "nothing"


@dataclass(frozen=True, slots=True)
class Step:
    """What a transition asks the service to do next."""

    prompt: Prompt
    discard_answer: int | None = None  # an ungraded answer the person gave up on


def recovery(weight_share: float, verdict: Verdict) -> float:
    """Points a follow-up adds back: half of the criterion's share of 10, scaled by its verdict."""
    return round(10.0 * weight_share * RECOVERY_SHARE * verdict.credit, 2)


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat()


def parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


@dataclass(slots=True)
class FollowUpTurn:
    criterion: str
    ask: str
    weight_share: float  # the criterion's weight / the rubric's total weight
    answer_id: int | None = None
    verdict: str | None = None  # hit | partial | missed once graded
    skipped: bool = False
    recovered: float = 0.0

    @property
    def settled(self) -> bool:
        return self.skipped or self.verdict is not None


@dataclass(slots=True)
class Slot:
    """One question of the interview and everything that happened to it."""

    question_id: str
    version: str
    title: str
    category: str
    from_review: bool = False
    status: SlotStatus = SlotStatus.WAITING
    answer_id: int | None = None
    base_score: float | None = None
    verdicts: dict[str, str] = field(default_factory=dict)  # criterion id -> verdict of the main answer
    follow_ups: list[FollowUpTurn] = field(default_factory=list)
    hints_used: int = 0
    asked_at: str | None = None
    answered_at: str | None = None  # the last message of the main answer

    @property
    def recovered(self) -> float:
        return round(sum(f.recovered for f in self.follow_ups), 2)

    @property
    def score(self) -> float | None:
        """The question's score: base plus follow-up recovery (max 10); skipped = 0."""
        if self.status is SlotStatus.SKIPPED:
            return 0.0
        if self.base_score is None:
            return None
        return round(min(10.0, self.base_score + self.recovered), 1)

    @property
    def counted(self) -> bool:
        """Part of the average: graded or skipped (never-answered questions are left out)."""
        return self.status in (SlotStatus.GRADED, SlotStatus.SKIPPED)


@dataclass(slots=True)
class InterviewState:
    format: str
    difficulty: str | None
    slots: list[Slot]
    index: int = 0
    phase: Phase = Phase.ANSWERING
    follow_up: int = 0  # index into the current slot's follow_ups while in FOLLOW_UP
    turn: int = 0  # answers opened so far; names each answer row "interview:<id>:<turn>"
    paused: bool = False
    end_reason: EndReason | None = None
    review: bool = False  # a review session (drawn from the review queue first)
    summary: dict[str, Any] | None = None  # set when finished: average, categories (for trends)

    # -- serialisation ------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InterviewState:
        slots = []
        for raw in data["slots"]:
            raw = dict(raw)
            raw["status"] = SlotStatus(raw["status"])
            raw["follow_ups"] = [FollowUpTurn(**f) for f in raw.get("follow_ups", [])]
            slots.append(Slot(**raw))
        values = {k: v for k, v in data.items() if k != "slots"}
        values["phase"] = Phase(values["phase"])
        values["end_reason"] = EndReason(values["end_reason"]) if values.get("end_reason") else None
        return cls(slots=slots, **values)

    # -- reading ----------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.phase is Phase.FINISHED

    @property
    def current(self) -> Slot | None:
        return None if self.finished or self.index >= len(self.slots) else self.slots[self.index]

    @property
    def current_follow_up(self) -> FollowUpTurn | None:
        slot = self.current
        if slot is None or self.phase is not Phase.FOLLOW_UP:
            return None
        return slot.follow_ups[self.follow_up]

    def awaiting_answer_id(self) -> int | None:
        """The answer row collecting the person's messages right now (None: none opened yet)."""
        follow_up = self.current_follow_up
        if follow_up is not None:
            return follow_up.answer_id
        slot = self.current
        return slot.answer_id if slot is not None else None

    def prompt(self) -> Prompt:
        """What to show to repeat the current step."""
        if self.finished:
            return Prompt.NOTHING
        return Prompt.FOLLOW_UP if self.phase is Phase.FOLLOW_UP else Prompt.QUESTION

    # -- transitions ------------------------------------------------------------------------

    def begin(self, now: dt.datetime) -> Step:
        return self._ask(0, now)

    def open_turn(self) -> int:
        """Number the next answer (main answers and follow-ups alike)."""
        self.turn += 1
        return self.turn

    def attach(self, answer_id: int) -> None:
        follow_up = self.current_follow_up
        if follow_up is not None:
            follow_up.answer_id = answer_id
        elif self.current is not None:
            self.current.answer_id = answer_id

    def answered(self, now: dt.datetime) -> None:
        """A message of the main answer arrived (for the soft time limit)."""
        if self.phase is Phase.ANSWERING and self.current is not None:
            self.current.answered_at = _iso(now)

    def main_graded(
        self, answer_id: int, score: float, verdicts: dict[str, str], follow_ups: list[FollowUpTurn], now: dt.datetime
    ) -> Step | None:
        """The current question's answer was graded; None when it is not the awaited answer."""
        slot = self.current
        if slot is None or self.phase is not Phase.ANSWERING or slot.answer_id != answer_id:
            return None
        slot.base_score = score
        slot.verdicts = dict(verdicts)
        slot.status = SlotStatus.GRADED
        slot.follow_ups = list(follow_ups)
        if slot.follow_ups:
            self.phase = Phase.FOLLOW_UP
            self.follow_up = 0
            return Step(Prompt.FOLLOW_UP)
        return self._advance(now)

    def follow_up_graded(self, answer_id: int, verdict: Verdict, now: dt.datetime) -> Step | None:
        follow_up = self.current_follow_up
        if follow_up is None or follow_up.answer_id != answer_id:
            return None
        follow_up.verdict = verdict.value
        follow_up.recovered = recovery(follow_up.weight_share, verdict)
        return self._next_follow_up(now)

    def skip(self, now: dt.datetime) -> Step:
        slot = self.current
        if slot is None:
            return Step(Prompt.NOTHING)
        follow_up = self.current_follow_up
        if follow_up is not None:
            follow_up.skipped = True
            pending, follow_up.answer_id = follow_up.answer_id, None
            step = self._next_follow_up(now)
            return Step(step.prompt, discard_answer=pending)
        slot.status = SlotStatus.SKIPPED
        pending, slot.answer_id = slot.answer_id, None
        step = self._advance(now)
        return Step(step.prompt, discard_answer=pending)

    def take_hint(self, hints: list[str]) -> str | None:
        """The next unused hint for the current question (None: none left, or in a follow-up)."""
        slot = self.current
        if slot is None or self.phase is not Phase.ANSWERING or slot.hints_used >= len(hints):
            return None
        slot.hints_used += 1
        return hints[slot.hints_used - 1]

    def pause(self) -> bool:
        if self.finished or self.paused:
            return False
        self.paused = True
        return True

    def resume(self) -> Step:
        if self.finished:
            return Step(Prompt.NOTHING)
        self.paused = False
        return Step(self.prompt())

    def finish(self, reason: EndReason) -> Step:
        """End now: the current unanswered question (and any open follow-up) is left ungraded."""
        if self.finished:
            return Step(Prompt.NOTHING)
        pending = None
        slot = self.current
        if slot is not None:
            if slot.status is SlotStatus.ASKED:
                slot.status = SlotStatus.UNANSWERED
                pending, slot.answer_id = slot.answer_id, None
            for follow_up in slot.follow_ups:
                if not follow_up.settled:
                    follow_up.skipped = True
                    pending, follow_up.answer_id = follow_up.answer_id or pending, None
        self.phase = Phase.FINISHED
        self.paused = False
        self.end_reason = reason
        return Step(Prompt.SCORECARD, discard_answer=pending)

    # -- internals ----------------------------------------------------------------------------

    def _next_follow_up(self, now: dt.datetime) -> Step:
        slot = self.current
        assert slot is not None
        if self.follow_up + 1 < len(slot.follow_ups):
            self.follow_up += 1
            return Step(Prompt.FOLLOW_UP)
        return self._advance(now)

    def _advance(self, now: dt.datetime) -> Step:
        if self.index + 1 >= len(self.slots):
            self.index = len(self.slots) - 1
            return self.finish(EndReason.COMPLETED)
        return self._ask(self.index + 1, now)

    def _ask(self, index: int, now: dt.datetime) -> Step:
        self.index = index
        self.phase = Phase.ANSWERING
        self.follow_up = 0
        slot = self.slots[index]
        slot.status = SlotStatus.ASKED
        slot.asked_at = _iso(now)
        return Step(Prompt.QUESTION)
