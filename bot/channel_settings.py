"""Admin changes to a channel's schedule and settings: parsed purely, applied to the row.

schedule                              show
schedule set time 09:30 | timezone Europe/Berlin | days mon-fri | window 6
schedule set holidays DE [BY] | holidays off | reminders 3 | reminders off
schedule set feedback public|private | details on|off
schedule pause | resume | skip 2026-12-24 | unskip 2026-12-24
topics | topics set deployment-strategies,kubernetes | topics clear
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import holidays

from bot.config import parse_time, parse_timezone, parse_weekdays
from content.schema import Category
from storage.models import Channel

SCHEDULE_USAGE = (
    "Use `schedule` to show it, or `schedule set time 09:30`, `schedule set timezone Europe/Berlin`, "
    "`schedule set days mon-fri`, `schedule set window 8`, `schedule set holidays DE`, `schedule set reminders 3`, "
    "`schedule set feedback public|private`, `schedule set details on|off`, `schedule pause`, `schedule resume`, "
    "`schedule skip 2026-12-24`."
)
TOPICS_USAGE = "Use `topics`, `topics set deployment-strategies,kubernetes` or `topics clear`."


@dataclass(frozen=True, slots=True)
class Change:
    """Column values to set on the channel, and how to describe the change."""

    values: dict[str, Any]
    summary: str


class Invalid(ValueError):
    """An admin's command that cannot be applied; the message says what to type instead."""


def _on_off(word: str) -> bool:
    if word in ("on", "yes", "true"):
        return True
    if word in ("off", "no", "false"):
        return False
    raise Invalid("Say `on` or `off`.")


def parse_schedule(args: Sequence[str], channel: Channel, today: dt.date | None = None) -> Change:
    """`today` is the channel's local day: skipping a day that has already passed would do nothing."""
    if not args:
        raise Invalid(SCHEDULE_USAGE)
    verb, rest = args[0].lower(), [a.strip() for a in args[1:]]
    if verb == "pause":
        return Change({"paused": True}, "Paused: no questions until `schedule resume`. Streaks are not broken.")
    if verb == "resume":
        return Change({"paused": False}, "Resumed: questions are posted on schedule again.")
    if verb in ("skip", "unskip"):
        day = _date(rest)
        if verb == "skip" and today is not None and day < today:
            raise Invalid(f"{day:%a %d %b %Y} has already passed; skip today or a later day.")
        days = set(channel.skip_days or [])
        days = days | {day.isoformat()} if verb == "skip" else days - {day.isoformat()}
        return Change({"skip_days": sorted(days)}, f"{'Skipping' if verb == 'skip' else 'Not skipping'} {day:%a %d %b %Y}.")
    if verb != "set" or len(rest) < 2:
        raise Invalid(SCHEDULE_USAGE)
    field, value = rest[0].lower(), rest[1:]
    try:
        return _parse_set(field, value)
    except ValueError as exc:
        raise Invalid(str(exc).removeprefix("Value error, ")) from None


def _parse_set(field: str, value: list[str]) -> Change:
    first = value[0]
    if field == "time":
        t = parse_time(first)
        return Change({"post_time": t.strftime("%H:%M")}, f"Questions will be posted at {t:%H:%M}.")
    if field in ("timezone", "tz"):
        return Change({"timezone": parse_timezone(first)}, f"Timezone set to {first}.")
    if field in ("days", "weekdays"):
        days = parse_weekdays("".join(value))
        return Change({"weekdays": ",".join(days)}, f"Posting on {', '.join(days)}.")
    if field == "window":
        hours = float(first)
        if not 0.25 <= hours <= 72:
            raise Invalid("The answer window is in hours, between 0.25 and 72.")
        return Change({"window_hours": hours}, f"Answers close {hours:g} hours after the post.")
    if field == "holidays":
        if first.lower() in ("off", "none"):
            return Change({"holiday_country": None, "holiday_subdivision": None}, "No holiday calendar.")
        country, subdivision = first.upper(), (value[1].upper() if len(value) > 1 else None)
        try:
            holidays.country_holidays(country, subdiv=subdivision)
        except NotImplementedError:
            raise Invalid(f"No holiday calendar for '{first}' — use an ISO country code such as DE, US or GB.") from None
        where = country + (f"-{subdivision}" if subdivision else "")
        return Change(
            {"holiday_country": country, "holiday_subdivision": subdivision}, f"No questions on {where} public holidays."
        )
    if field == "reminders":
        if first.lower() in ("off", "none"):
            return Change({"reminder_hours": None}, "Streak reminders are off.")
        hours = float(first)
        if not 0.25 <= hours <= 24:
            raise Invalid("Reminders are sent this many hours before close, between 0.25 and 24.")
        return Change({"reminder_hours": hours}, f"People whose streak is at risk get a DM {hours:g} h before close.")
    if field == "feedback":
        if first.lower() not in ("public", "private"):
            raise Invalid("Say `schedule set feedback public` or `private`.")
        public = first.lower() == "public"
        return Change(
            {"feedback_public": public},
            "Feedback is posted in the thread." if public else "Feedback is shown only to the answerer.",
        )
    if field == "details":
        on = _on_off(first.lower())
        return Change({"report_details": on}, f"Manager reports {'include' if on else 'leave out'} per-person rows.")
    raise Invalid(SCHEDULE_USAGE)


def _date(rest: Sequence[str]) -> dt.date:
    if not rest:
        raise Invalid("Give a date: `schedule skip 2026-12-24`.")
    try:
        return dt.date.fromisoformat(rest[0])
    except ValueError:
        raise Invalid(f"'{rest[0][:20]}' is not a date; use YYYY-MM-DD.") from None


def parse_topics(args: Sequence[str]) -> Change | None:
    """None = show. Topics are bank categories; an empty list means every category."""
    if not args:
        return None
    verb = args[0].lower()
    if verb == "clear":
        return Change({"topics": []}, "Questions come from every category.")
    if verb != "set" or len(args) < 2:
        raise Invalid(TOPICS_USAGE)
    wanted = [t.strip().lower() for t in ",".join(args[1:]).split(",") if t.strip()]
    known = {c.value for c in Category if c is not Category.CUSTOM}
    unknown = [t for t in wanted if t not in known]
    if unknown:
        raise Invalid(f"Unknown topic(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}.")
    return Change({"topics": sorted(set(wanted))}, f"Questions come from: {', '.join(sorted(set(wanted)))}.")


def describe(channel: Channel) -> list[tuple[str, str]]:
    skip = ", ".join(channel.skip_days or []) or "—"
    holiday = (channel.holiday_country or "—") + (f"-{channel.holiday_subdivision}" if channel.holiday_subdivision else "")
    return [
        ("Time", f"{channel.post_time} {channel.timezone}"),
        ("Days", channel.weekdays.replace(",", ", ")),
        ("Answer window", f"{channel.window_hours:g} h"),
        ("Holidays", holiday),
        ("Paused", "yes" if channel.paused else "no"),
        ("Skipped days", skip),
        ("Topics", ", ".join(channel.topics or []) or "all"),
        ("Feedback", "public" if channel.feedback_public else "private"),
        ("Reminders", f"{channel.reminder_hours:g} h before close" if channel.reminder_hours else "off"),
        ("Report details", "on" if channel.report_details else "off"),
    ]
