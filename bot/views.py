"""Builders for the core's neutral messages: question, feedback, reveal, leaderboard, help."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.grading.model import Flag, Grade, Verdict
from bot.messages import (
    Button,
    Buttons,
    Context,
    Fields,
    Header,
    Message,
    Section,
    bold,
    message,
    quote,
    text_message,
)
from content.schema import Question

ANSWER_PRIVATELY = "answer_privately"
HINT = "hint"
SKIP = "skip"


def question_message(question: Question, post_id: int, closes_at: dt.datetime | None, timezone: str) -> Message:
    when = ""
    if closes_at is not None:
        local = closes_at.astimezone(ZoneInfo(timezone))
        when = f" · answers close {local:%a %H:%M} ({timezone})"
    return message(
        Header(f"Daily question: {question.title}"),
        Section.of(question.prompt.strip()),
        Context(
            f"{question.category.value} · {question.difficulty.value}{when} · answer in the thread, or privately with the button"
        ),
        Buttons(
            (
                Button(ANSWER_PRIVATELY, "Answer privately", str(post_id)),
                Button(HINT, "Hint", str(post_id)),
                Button(SKIP, "Skip", str(post_id)),
            )
        ),
        summary=f"Daily question: {question.title}",
        tags=("question",),
    )


def received_message(truncated_from: int | None, kept: int) -> Message | None:
    if truncated_from is None:
        return None
    return text_message(
        f"Your answer was {truncated_from:,} characters; the first {kept:,} were kept and graded.",
        tags=("truncated",),
    )


def feedback_message(question: Question, grade: Grade, *, late: bool, points: int, answer_id: int | None = None) -> Message:
    descriptions = {c.id: c.description.rstrip(".") for c in question.rubric}
    blocks: list = [Section.of(bold(f"{grade.score:g}/10"), f" on “{question.title}”")]
    hit = [descriptions.get(c.criterion_id, c.criterion_id) for c in grade.criteria if c.verdict is Verdict.HIT]
    partial = [descriptions.get(c.criterion_id, c.criterion_id) for c in grade.criteria if c.verdict is Verdict.PARTIAL]
    missed = [descriptions.get(c.criterion_id, c.criterion_id) for c in grade.criteria if c.verdict is Verdict.MISSED]
    if hit:
        blocks.append(Section.of(bold("Covered: "), "; ".join(hit)))
    if partial:
        blocks.append(Section.of(bold("Partly: "), "; ".join(partial)))
    if missed:
        blocks.append(Section.of(bold("Missed: "), "; ".join(missed)))
    blocks.append(Section.of(grade.feedback))
    notes = []
    if late:
        notes.append("late answer: graded for feedback, no points")
    else:
        notes.append(f"+{points} point{'s' if points != 1 else ''}")
    if Flag.NEEDS_REVIEW in grade.flags:
        notes.append("flagged for review")
    if Flag.OFFLINE_FALLBACK in grade.flags:
        notes.append("graded offline while the LLM was unavailable")
    notes.append(f"graded by {grade.grader}")
    if answer_id is not None:
        notes.append(f"answer #{answer_id}")
    blocks.append(Context(" · ".join(notes)))
    return message(*blocks, summary=f"Your answer scored {grade.score:g}/10", tags=("feedback",))


def grading_delayed_message() -> Message:
    return text_message(
        "Got your answer. Grading is delayed because the grader is unavailable; it is saved and will be graded as soon as it is back.",
        tags=("delayed",),
    )


@dataclass(frozen=True, slots=True)
class RevealSummary:
    answers: int
    graded: int
    average: float | None
    top: Sequence[tuple[str, float]]
    most_missed: str | None


def reveal_message(question: Question, summary: RevealSummary) -> Message:
    blocks: list = [Header(f"Reveal: {question.title}"), Section.of(bold("Model answer: "), question.model_answer.strip())]
    if question.rubric:
        rubric = "\n".join(f"• {c.description.rstrip('.')} (weight {c.weight:g})" for c in question.rubric)
        blocks.append(Section.of(bold("What the rubric looked for:\n"), rubric))
    average = "—" if summary.average is None else f"{summary.average:.1f}/10"
    pairs = [("Answers", str(summary.answers)), ("Average", average)]
    if summary.graded < summary.answers:
        pairs.append(("Still grading", str(summary.answers - summary.graded)))
    blocks.append(Fields(tuple(pairs)))
    if summary.top:
        blocks.append(Section.of(bold("Top: "), ", ".join(f"{name} ({score:g})" for name, score in summary.top)))
    if summary.most_missed:
        blocks.append(Context(f"Most missed: {summary.most_missed}"))
    return message(*blocks, summary=f"Reveal: {question.title}", tags=("reveal",))


@dataclass(frozen=True, slots=True)
class BoardRow:
    name: str
    points: int
    answers: int


def leaderboard_message(title: str, rows: Sequence[BoardRow]) -> Message:
    if not rows:
        return message(
            Header(title),
            Section.of("No points yet. Answer today's question in its thread to get on the board."),
            tags=("leaderboard",),
        )
    lines = "\n".join(
        f"{i}. {r.name} — {r.points} pts ({r.answers} answer{'s' if r.answers != 1 else ''})" for i, r in enumerate(rows, 1)
    )
    return message(Header(title), Section.of(lines), summary=title, tags=("leaderboard",))


def help_message(commands: Sequence[tuple[str, str]]) -> Message:
    lines = "\n".join(f"{name} — {what}" for name, what in commands)
    return message(Header("RepBot commands"), Section.of(lines), tags=("help",))


def user_echo(text: str, limit: int = 300) -> Section:
    """A user's own words shown back (always escaped by renderers)."""
    return Section.of(quote(text if len(text) <= limit else text[:limit] + "…"))
