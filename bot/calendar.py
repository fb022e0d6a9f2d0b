"""A channel's schedule as pure rules: which local days get a post, and when it opens and closes.

Times are computed with zoneinfo, so a post at 09:30 stays at 09:30 local across DST changes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from bot.config import WEEKDAYS


@lru_cache(maxsize=256)
def _holiday_calendar(country: str, subdivision: str | None, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays(country, subdiv=subdivision, years=year)


def is_holiday(day: dt.date, country: str | None, subdivision: str | None = None) -> bool:
    if not country:
        return False
    return day in _holiday_calendar(country.upper(), subdivision, day.year)


@dataclass(frozen=True, slots=True)
class ChannelSchedule:
    timezone: str
    post_time: dt.time
    weekdays: tuple[str, ...]
    paused: bool = False
    skip_days: frozenset[dt.date] = field(default_factory=frozenset)
    holiday_country: str | None = None
    holiday_subdivision: str | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local_day(self, instant: dt.datetime) -> dt.date:
        return instant.astimezone(self.tz).date()

    def is_scheduled(self, day: dt.date) -> bool:
        """A working day of this channel: right weekday, not skipped, not a holiday, not paused."""
        if self.paused or day in self.skip_days:
            return False
        if WEEKDAYS[day.weekday()] not in self.weekdays:
            return False
        return not is_holiday(day, self.holiday_country, self.holiday_subdivision)

    def opens_at(self, day: dt.date) -> dt.datetime:
        local = dt.datetime.combine(day, self.post_time, tzinfo=self.tz)
        # A post time inside a spring-forward gap does not exist; round-tripping through UTC
        # moves it to the first valid instant after the gap.
        return local.astimezone(dt.UTC)

    def due_day(self, now: dt.datetime, grace: dt.timedelta) -> dt.date | None:
        """The local day whose post is due now (post time passed, within the grace window)."""
        today = self.local_day(now)
        if not self.is_scheduled(today):
            return None
        opens = self.opens_at(today)
        return today if opens <= now <= opens + grace else None
