"""Table-driven tests of the pure rules: points, streaks, schedules across DST and holidays."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.calendar import ChannelSchedule
from bot.scoring import PointsRule, points_for
from bot.selection import choose_question
from bot.streaks import Streak, streak, streak_at, streak_bonus

D = dt.date


@pytest.mark.parametrize(
    ("score", "late", "run", "rule", "points"),
    [
        (7.4, False, 0, PointsRule(), 8),  # 7 + participation
        (7.5, False, 0, PointsRule(), 9),  # rounds half up
        (0.0, False, 0, PointsRule(), 1),  # answering at all earns a point
        (10.0, False, 3, PointsRule(), 12),  # + streak bonus 1
        (10.0, False, 7, PointsRule(), 13),
        (10.0, False, 20, PointsRule(), 14),
        (9.0, True, 5, PointsRule(), 0),  # late: graded, no points
        (9.0, True, 5, PointsRule(late_counts=True), 10),  # late counts, but no streak bonus
        (6.0, False, 9, PointsRule(streak_bonus=False), 7),
        (11.0, False, 0, PointsRule(), 11),  # scores are clamped to 10
    ],
)
def test_points(score: float, late: bool, run: int, rule: PointsRule, points: int) -> None:
    assert points_for(score, late=late, streak=run, rule=rule) == points


@pytest.mark.parametrize(("length", "bonus"), [(0, 0), (2, 0), (3, 1), (6, 1), (7, 2), (14, 2), (15, 3), (100, 3)])
def test_streak_bonus(length: int, bonus: int) -> None:
    assert streak_bonus(length) == bonus


MON, TUE, WED, THU, FRI = (D(2026, 3, d) for d in (2, 3, 4, 5, 6))
NEXT_MON = D(2026, 3, 9)


@pytest.mark.parametrize(
    ("posts", "answered", "open_day", "current", "best"),
    [
        ([MON, TUE, WED], {MON, TUE, WED}, None, 3, 3),
        ([MON, TUE, WED], {MON, WED}, None, 1, 1),  # a missed question breaks it
        ([MON, TUE, WED], {MON, TUE}, WED, 2, 2),  # today still open: not broken yet
        ([MON, TUE, WED], {MON, TUE}, None, 0, 2),  # closed unanswered: broken
        ([FRI, NEXT_MON], {FRI, NEXT_MON}, None, 2, 2),  # the weekend has no post, so it cannot break it
        ([MON, TUE, THU], {MON, TUE, THU}, None, 3, 3),  # a holiday or paused day has no post either
        ([], set(), None, 0, 0),
        ([MON, TUE, WED, THU, FRI], {MON, TUE, THU, FRI}, None, 2, 2),
    ],
)
def test_streaks(posts: list[dt.date], answered: set[dt.date], open_day: dt.date | None, current: int, best: int) -> None:
    assert streak(posts, answered, open_day) == Streak(current, best)


def test_streak_at_counts_the_answer_being_graded() -> None:
    assert streak_at([MON, TUE, WED], {MON, TUE}, WED) == 3
    assert streak_at([MON, TUE, WED, THU], {MON, TUE, WED}, TUE) == 2  # later posts do not count


def schedule(**kw: object) -> ChannelSchedule:
    base: dict = {
        "timezone": "Europe/Berlin",
        "post_time": dt.time(9, 0),
        "weekdays": ("mon", "tue", "wed", "thu", "fri"),
    }
    base.update(kw)
    return ChannelSchedule(**base)


@pytest.mark.parametrize(
    ("day", "opens_utc"),
    [
        (D(2026, 3, 27), dt.datetime(2026, 3, 27, 8, 0, tzinfo=dt.UTC)),  # CET, UTC+1
        (D(2026, 3, 30), dt.datetime(2026, 3, 30, 7, 0, tzinfo=dt.UTC)),  # CEST after the DST change
        (D(2026, 10, 26), dt.datetime(2026, 10, 26, 8, 0, tzinfo=dt.UTC)),  # back to CET
    ],
)
def test_post_time_stays_local_across_dst(day: dt.date, opens_utc: dt.datetime) -> None:
    assert schedule().opens_at(day) == opens_utc


def test_post_time_inside_the_spring_gap_moves_past_it() -> None:
    s = schedule(post_time=dt.time(2, 30), weekdays=("sun",))
    assert s.opens_at(D(2026, 3, 29)) == dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC)  # 03:30 CEST


@pytest.mark.parametrize(
    ("instant", "tz", "local_day"),
    [
        (dt.datetime(2026, 3, 2, 22, 59, tzinfo=dt.UTC), "Europe/Berlin", D(2026, 3, 2)),  # 23:59 local
        (dt.datetime(2026, 3, 2, 23, 1, tzinfo=dt.UTC), "Europe/Berlin", D(2026, 3, 3)),  # 00:01 local
        (dt.datetime(2026, 3, 3, 7, 59, tzinfo=dt.UTC), "America/Los_Angeles", D(2026, 3, 2)),  # 23:59 PST
        (dt.datetime(2026, 3, 3, 8, 1, tzinfo=dt.UTC), "America/Los_Angeles", D(2026, 3, 3)),
    ],
)
def test_local_day_at_midnight(instant: dt.datetime, tz: str, local_day: dt.date) -> None:
    assert schedule(timezone=tz).local_day(instant) == local_day


@pytest.mark.parametrize(
    ("kw", "day", "scheduled"),
    [
        ({}, D(2026, 3, 2), True),
        ({}, D(2026, 3, 7), False),  # Saturday
        ({"holiday_country": "DE"}, D(2026, 12, 25), False),  # Christmas in Germany
        ({"holiday_country": "DE"}, D(2026, 11, 26), True),  # US Thanksgiving is a normal day in DE
        ({"holiday_country": "US"}, D(2026, 11, 26), False),
        ({"holiday_country": "DE", "holiday_subdivision": "BY"}, D(2026, 1, 6), False),  # Epiphany in Bavaria
        ({"holiday_country": "DE", "holiday_subdivision": "BE"}, D(2026, 1, 6), True),  # not in Berlin
        ({"paused": True}, D(2026, 3, 2), False),
        ({"skip_days": frozenset({D(2026, 3, 2)})}, D(2026, 3, 2), False),
    ],
)
def test_scheduled_days(kw: dict, day: dt.date, scheduled: bool) -> None:
    assert schedule(**kw).is_scheduled(day) is scheduled


def test_due_day_respects_grace() -> None:
    s = schedule()
    grace = dt.timedelta(hours=3)
    assert s.due_day(dt.datetime(2026, 3, 2, 7, 59, tzinfo=dt.UTC), grace) is None  # before 09:00 local
    assert s.due_day(dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC), grace) == D(2026, 3, 2)
    assert s.due_day(dt.datetime(2026, 3, 2, 11, 1, tzinfo=dt.UTC), grace) is None  # grace passed


@pytest.mark.parametrize(
    ("history", "fresh"),
    [
        ([], {"a", "b", "c"}),
        (["a"], {"b", "c"}),
        (["a", "b"], {"c"}),
        (["a", "b", "c"], {"a", "b"}),
        (["a", "b", "c", "a"], {"b", "c"}),
    ],
)
def test_question_choice_prefers_least_seen_and_never_the_last(history: list[str], fresh: set[str]) -> None:
    picks = {choose_question(["a", "b", "c"], history, seed=str(i)) for i in range(40)}
    assert picks == fresh
