"""Working days (工作日) on an operator-editable calendar: weekends, official holidays and make-up working
days (调休). A date in a year the calendar does not know is an error, never a weekend-only guess.

The calendar is loaded once per process into per-day cumulative workday counts, so adding N working days
or counting working days between two dates is a binary search, not a day-by-day loop; a change made by an
operator bumps a version in the shared cache and every process reloads.
"""

from __future__ import annotations

import bisect
import datetime as dt
import threading
from dataclasses import dataclass

from django.core.cache import cache
from django.utils.translation import gettext as _

CACHE_KEY = "tongban:calendar-version"
_lock = threading.Lock()


class CalendarMissing(Exception):
    """No calendar for that year: an operator must add it (or mark it provisional) first."""

    def __init__(self, year: int) -> None:
        self.year = year
        super().__init__(
            _("%(year)d年的工作日历尚未录入，无法计算办理时限。请运维人员在后台录入或标记为暂定。")
            % {"year": year}
        )


@dataclass(frozen=True)
class _Loaded:
    version: int
    first: dt.date  # 1 January of the first known year
    years: frozenset[int]
    provisional: frozenset[int]
    cumulative: list[int]  # cumulative[i] = workdays in [first, first + i] inclusive
    workday_ordinals: list[int]  # sorted ordinals of every workday


class WorkingCalendar:
    def __init__(self, years: dict[int, str], exceptions: dict[dt.date, bool], version: int = 0) -> None:
        self.version = version
        self.years = frozenset(years)
        self.provisional = frozenset(y for y, status in years.items() if status == "provisional")
        if not years:
            self.first = dt.date(2000, 1, 1)
            self.cumulative: list[int] = []
            self.workday_ordinals: list[int] = []
            return
        self.first = dt.date(min(years), 1, 1)
        last = dt.date(max(years), 12, 31)
        total = 0
        cumulative = []
        ordinals = []
        day = self.first
        one = dt.timedelta(days=1)
        while day <= last:
            # A day of a gap year counts as nothing: arithmetic across a gap is refused before it is used.
            workday = exceptions.get(day, day.weekday() < 5) if day.year in self.years else False
            if workday:
                total += 1
                ordinals.append(day.toordinal())
            cumulative.append(total)
            day += one
        self.cumulative = cumulative
        self.workday_ordinals = ordinals

    def _check(self, *days: dt.date) -> None:
        """Every year from the earliest to the latest of ``days`` must be known (no silent gap)."""
        years = [d.year for d in days]
        for year in range(min(years), max(years) + 1):
            if year not in self.years:
                raise CalendarMissing(year)

    def is_workday(self, day: dt.date) -> bool:
        self._check(day)
        i = day.toordinal() - self.first.toordinal()
        return self.cumulative[i] - (self.cumulative[i - 1] if i else 0) == 1

    def add(self, start: dt.date, days: int) -> dt.date:
        """The date on which ``days`` working days after ``start`` have passed (start itself not counted):
        a 5-working-day limit from a Friday submission ends the next Friday."""
        self._check(start)
        if days <= 0:
            return start
        i = start.toordinal() - self.first.toordinal()
        index = (
            self.cumulative[i] + days - 1
        )  # position in workday_ordinals of the days-th workday after start
        if index >= len(self.workday_ordinals):
            raise CalendarMissing(max(self.years) + 1)
        result = dt.date.fromordinal(self.workday_ordinals[index])
        self._check(start, result)
        return result

    def between(self, start: dt.date, end: dt.date) -> int:
        """Working days after ``start`` up to and including ``end`` (negative when end is before start)."""
        self._check(start, end)
        if end < start:
            return -self.between(end, start)
        base = self.first.toordinal()
        return self.cumulative[end.toordinal() - base] - self.cumulative[start.toordinal() - base]

    def next_workday(self, day: dt.date) -> dt.date:
        """``day`` itself if it is a working day, else the next one (when a clock starts on a holiday)."""
        self._check(day)
        i = bisect.bisect_left(self.workday_ordinals, day.toordinal())
        if i >= len(self.workday_ordinals):
            raise CalendarMissing(day.year + 1)
        return dt.date.fromordinal(self.workday_ordinals[i])

    def is_provisional(self, day: dt.date) -> bool:
        return day.year in self.provisional


_loaded: WorkingCalendar | None = None


def calendar() -> WorkingCalendar:
    """The process's calendar, reloaded when an operator changed it (version in the shared cache)."""
    global _loaded
    version = cache.get(CACHE_KEY, 0)
    current = _loaded
    if current is not None and current.version == version:
        return current
    with _lock:
        from .models import CalendarDay, CalendarYear

        years = dict(CalendarYear.objects.values_list("year", "status"))
        exceptions = dict(CalendarDay.objects.values_list("date", "is_workday"))
        _loaded = WorkingCalendar(years, exceptions, version)
        return _loaded


def invalidate() -> None:
    """Call after changing the calendar tables (services do it on commit)."""
    global _loaded
    try:
        cache.incr(CACHE_KEY)
    except ValueError:
        cache.set(CACHE_KEY, 1, timeout=None)
    _loaded = None
