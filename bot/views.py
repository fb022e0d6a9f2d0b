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
HOW_TO_ANSWER = "answer in the thread, or privately with the button"
EXTRA_QUESTION = "an extra question: it earns points, but streaks follow the scheduled daily question"


def question_message(
    question: Question, post_id: int, closes_at: dt.datetime | None, timezone: str, *, extra: bool = False
) -> Message:
    """`extra`: not the day's scheduled question, which the message says (no streak from it)."""
    when = ""
    if closes_at is not None:
        local = closes_at.astimezone(ZoneInfo(timezone))
        when = f" · answers close {local:%a %H:%M} ({timezone})"
    return message(
        Header(f"Daily question: {question.title}"),
        Section.of(question.prompt.strip()),
        Context(f"{question.category.value} · {question.difficulty.value}{when} · {HOW_TO_ANSWER}"),
        *((Context(EXTRA_QUESTION),) if extra else ()),
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


def feedback_message(
    question: Question,
    grade: Grade,
    *,
    late: bool,
    points: int,
    answer_id: int | None = None,
    extra: bool = False,
    answerer: str | None = None,
) -> Message:
    """The grade as its answerer sees it. `answerer` (public feedback in the thread) names whose
    answer it is: a plain name, never a mention, so nobody is pinged (renderers escape it)."""
    descriptions = {c.id: c.description.rstrip(".") for c in question.rubric}
    whose = [f"{answerer}’s answer: "] if answerer else []
    blocks: list = [Section.of(*whose, bold(f"{grade.score:g}/10"), f" on “{question.title}”")]

    def said(verdict: Verdict) -> list[str]:
        # A point counted is shown with the person's own words that earned it.
        return [
            descriptions.get(c.criterion_id, c.criterion_id) + (f" (“{_clip(c.evidence)}”)" if c.evidence else "")
            for c in grade.criteria
            if c.verdict is verdict
        ]

    # A score of 0 credits nothing: listing points as covered beside it would contradict it.
    hit = said(Verdict.HIT) if grade.score > 0 else []
    partial = said(Verdict.PARTIAL) if grade.score > 0 else []
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
    elif Flag.POINTS_KEPT in grade.flags:
        notes.append(f"points stay {points}, those of {'their' if answerer else 'your'} answer when its feedback first went out")
    else:
        notes.append(f"+{plural(points, 'point')}" + (" (extra question: no streak)" if extra else ""))
    if Flag.NEEDS_REVIEW in grade.flags:
        notes.append("flagged for review")
    if Flag.OFFLINE_FALLBACK in grade.flags:
        notes.append("graded offline while the LLM was unavailable")
    notes.append(grader_label(grade.grader))
    if answer_id is not None:
        notes.append(f"answer #{answer_id}")
    blocks.append(Context(" · ".join(notes)))
    summary = f"{answerer}’s answer scored {grade.score:g}/10" if answerer else f"Your answer scored {grade.score:g}/10"
    return message(*blocks, summary=summary, tags=("feedback",))


def _clip(evidence: str, limit: int = 80) -> str:
    evidence = " ".join(evidence.split())
    return evidence if len(evidence) <= limit else evidence[: limit - 1].rstrip() + "…"


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 point`, `2 points`, `0 answers`: counts people read in sentences."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def grader_label(grader: str) -> str:
    """Who graded, in words: admin corrections are stored as grader `manual`."""
    if grader == "manual":
        return "grade set by an admin"
    return f"graded by the {grader} grader"


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
    lines = "\n".join(f"{i}. {r.name} — {plural(r.points, 'pt')} ({plural(r.answers, 'answer')})" for i, r in enumerate(rows, 1))
    return message(Header(title), Section.of(lines), summary=title, tags=("leaderboard",))


def help_message(commands: Sequence[tuple[str, str]]) -> Message:
    lines = "\n".join(f"{name} — {what}" for name, what in commands)
    return message(Header("RepBot commands"), Section.of(lines), tags=("help",))


def user_echo(text: str, limit: int = 300) -> Section:
    """A user's own words shown back (always escaped by renderers)."""
    return Section.of(quote(text if len(text) <= limit else text[:limit] + "…"))
