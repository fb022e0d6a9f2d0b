"""Neutral messages of a DM interview: questions, follow-ups, short notes and the scorecard.

Every message is tagged "interview" (plus its kind) so tests and metrics can tell them apart.
"""

from __future__ import annotations

import datetime as dt

from bot.interview.scorecard import Scorecard, bar, line_counted
from bot.interview.selection import MIXED
from bot.interview.state import EndReason, FollowUpTurn, InterviewState, Slot, SlotStatus
from bot.messages import Block, CodeBlock, Context, Header, Message, Section, bold, message
from content.schema import Question

TAG = "interview"
IN_SESSION = "Answer in one or more messages, then say `done`. Also: `hint`, `skip`, `repeat`, `pause`, `end`."
FORMAT_LABELS = {
    "pipeline-design": "pipeline design",
    "scripting": "scripting",
    "incident-process": "incident and process",
    "behavioral": "behavioral",
    "concept": "concepts",
    MIXED: "mixed",
}


def note(text: str, kind: str = "note") -> Message:
    return message(Section.of(text), summary=text[:150], tags=(TAG, f"interview-{kind}"))


def intro_message(state: InterviewState, *, preface: str | None = None) -> Message:
    label = FORMAT_LABELS.get(state.format, state.format)
    level = f" · {state.difficulty}" if state.difficulty else ""
    kind = "Review session" if state.review else "Mock interview"
    count = len(state.slots)
    blocks: list[Block] = [Header(f"{kind}: {label}{level} · {count} question{'s' if count != 1 else ''}")]
    if preface:
        blocks.append(Section.of(preface))
    blocks.append(
        Section.of(
            "This stays between us: answers and scores are never shown in a channel. "
            "When an answer leaves out something important I will ask a follow-up; "
            "a scorecard comes at the end."
        )
    )
    blocks.append(Context(IN_SESSION))
    return message(*blocks, summary=f"{kind} started", tags=(TAG, "interview-intro"))


def question_message(state: InterviewState, slot: Slot, question: Question) -> Message:
    number = state.slots.index(slot) + 1
    details = [question.category.value, question.difficulty.value]
    if question.time_limit_minutes:
        details.append(f"suggested time {question.time_limit_minutes} min (not enforced)")
    if slot.from_review:
        details.append("from your review queue")
    return message(
        Header(f"Question {number} of {len(state.slots)}: {question.title}"),
        Section.of(question.prompt.strip()),
        Context(" · ".join(details)),
        Context(IN_SESSION),
        summary=f"Question {number} of {len(state.slots)}: {question.title}",
        tags=(TAG, "interview-question"),
    )


def follow_up_message(state: InterviewState, follow_up: FollowUpTurn) -> Message:
    number = state.index + 1
    return message(
        Header(f"Follow-up on question {number}"),
        Section.of(follow_up.ask),
        Context("Answer, then say `done` · `skip` moves on · `repeat` shows this again"),
        summary=f"Follow-up: {follow_up.ask[:120]}",
        tags=(TAG, "interview-follow-up"),
    )


def graded_note(number: int, score: float, minutes: float | None, limit: int | None, *, follow_up_coming: bool) -> Message:
    text = f"Question {number}: {score:g}/10."
    if limit and minutes is not None and minutes > limit:
        text += f" You took {minutes:g} min; the suggested time was {limit} min (practice pace, no penalty)."
    if follow_up_coming:
        text += " One thing first:"
    return note(text, "graded")


def follow_up_note(number: int, recovered: float, score: float | None) -> Message:
    if recovered > 0:
        text = f"Follow-up: +{recovered:.1f} recovered, question {number} now {score:g}/10."
    else:
        text = f"Follow-up: that point is still missing; question {number} stays at {score:g}/10."
    return note(text, "graded")


def already_active(state: InterviewState) -> Message:
    slot = state.current
    where = f"question {state.index + 1} of {len(state.slots)}" if slot else "its last step"
    if state.paused:
        return note(
            f"You have a paused interview ({where}). Say `resume` in our DM to continue, or `end` to finish it.", "active"
        )
    return note(f"You already have an interview in progress ({where}). Continue it in our DM, or say `end` there.", "active")


def _trend(card: Scorecard) -> str:
    if card.average is None:
        return "Nothing graded yet, so no trend."
    if not card.earlier:
        return f"First interview: {card.average:.1f}/10 is your baseline."
    shown = [f"{a:.1f}" for a in card.earlier[-4:]] + [f"{card.average:.1f} (now)"]
    change = card.change or 0.0
    arrow = "▲" if change > 0 else "▼" if change < 0 else "="
    return f"{' → '.join(shown)}   {arrow} {change:+.1f} vs your last interview"


def scorecard_message(card: Scorecard, reviews_due: int, next_review: dt.datetime | None) -> Message:
    title = "Interview scorecard" + (" (partial)" if card.partial else "")
    blocks: list[Block] = [Header(title)]
    if card.reason is EndReason.IDLE:
        blocks.append(Context("Ended after a long time without activity; here is what you got through."))
    elif card.reason is EndReason.ENDED:
        blocks.append(Context("Ended early at your request."))
    rows = []
    for line in card.lines:
        if line.status is SlotStatus.SKIPPED:
            result = "skipped (0)"
        elif line.status is SlotStatus.GRADED and line.score is not None:
            result = f"{line.score:g}/10"
            if line.recovered:
                result += f" ({line.base:g} + {line.recovered:.1f} from follow-ups)"
        elif line.status is SlotStatus.UNANSWERED:
            result = "not answered"
        else:
            result = "not asked"
        extras = []
        if line.hints:
            extras.append(f"{line.hints} hint{'s' if line.hints != 1 else ''}")
        if line.time_limit and line.minutes is not None and line.minutes > line.time_limit:
            extras.append(f"{line.minutes:g} of {line.time_limit} suggested min")
        rows.append(f"{line.number}. {line.title} — {result}" + (f" · {', '.join(extras)}" if extras else ""))
    blocks.append(Section.of(bold("Questions\n"), "\n".join(rows)))
    average = "—" if card.average is None else f"{card.average:.1f}/10"
    counted = sum(1 for line in card.lines if line_counted(line))
    blocks.append(Section.of(bold("Overall: "), f"{average} over {counted} question{'s' if counted != 1 else ''}"))
    if card.categories:
        width = max(len(c) for c, _ in card.categories)
        blocks.append(CodeBlock("\n".join(f"{c.ljust(width)}  {bar(avg)}  {avg:.1f}" for c, avg in card.categories)))
    if card.strengths:
        blocks.append(Section.of(bold("Strengths\n"), "\n".join(f"• {s}" for s in card.strengths)))
    if card.gaps:
        blocks.append(Section.of(bold("Gaps\n"), "\n".join(f"• {g}" for g in card.gaps)))
    if card.warnings:
        blocks.append(Section.of(bold("Common mistakes to avoid\n"), "\n".join(f"• {w}" for w in card.warnings)))
    study = list(card.study) or ["Nothing weak this time: try a harder difficulty next."]
    if reviews_due:
        study.append(f"{reviews_due} review{'s are' if reviews_due != 1 else ' is'} due now: say `interview review`.")
    elif next_review is not None:
        study.append(f"Next review due {next_review:%a %d %b} (UTC): `interview review` then.")
    blocks.append(Section.of(bold("Study plan\n"), "\n".join(f"• {s}" for s in study)))
    blocks.append(Section.of(bold("Trend: "), _trend(card)))
    return message(*blocks, summary=title, tags=(TAG, "interview-scorecard"))
