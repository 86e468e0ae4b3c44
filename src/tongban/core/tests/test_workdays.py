"""Working days on the official calendar: holidays, make-up working days (调休), missing years, properties."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tongban.core import services, workdays
from tongban.core.models import CalendarYear
from tongban.core.workdays import CalendarMissing, WorkingCalendar

D = dt.date


@pytest.fixture
def cal(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.calendar_seed_official(years=[2024, 2025, 2026])
    return workdays.calendar()


def test_national_day_week_and_make_up_days_2025(cal):
    # 2025: 10月1日至8日放假调休，9月28日（周日）、10月11日（周六）上班.
    assert not cal.is_workday(D(2025, 10, 1)) and not cal.is_workday(D(2025, 10, 8))
    assert cal.is_workday(D(2025, 9, 28)) and cal.is_workday(D(2025, 10, 11))
    assert cal.is_workday(D(2025, 10, 9))
    # Submitted on Tuesday 30 September, 3 working days: 9, 10, 11 October (the 11th is a Saturday workday).
    assert cal.add(D(2025, 9, 30), 3) == D(2025, 10, 11)
    assert cal.between(D(2025, 9, 30), D(2025, 10, 11)) == 3


def test_spring_festival_2026(cal):
    assert not cal.is_workday(D(2026, 2, 16))
    assert cal.is_workday(D(2026, 2, 14))  # Saturday make-up working day before the festival
    assert cal.add(D(2026, 2, 13), 1) == D(2026, 2, 14)


def test_add_counts_from_the_next_day_and_skips_weekends(cal):
    assert cal.add(D(2026, 11, 20), 1) == D(2026, 11, 23)  # Friday + 1 → Monday
    assert cal.add(D(2026, 11, 20), 5) == D(2026, 11, 27)
    assert cal.add(D(2026, 11, 21), 1) == D(2026, 11, 23)  # from a Saturday
    assert cal.next_workday(D(2026, 11, 21)) == D(2026, 11, 23)


def test_missing_years_are_refused_not_guessed(cal):
    with pytest.raises(CalendarMissing) as err:
        cal.add(D(2026, 12, 20), 20)
    assert err.value.year == 2027 and "2027年的工作日历尚未录入" in str(err.value)
    with pytest.raises(CalendarMissing):
        cal.is_workday(D(2023, 6, 1))
    gap = WorkingCalendar({2024: "official", 2026: "official"}, {})
    with pytest.raises(CalendarMissing) as err:
        gap.add(D(2024, 12, 20), 30)  # would silently skip 2025 otherwise
    assert err.value.year == 2025


def test_provisional_year_is_explicit(cal, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.calendar_year_provisional(acting_user=None, year=2027)
    cal = workdays.calendar()
    assert cal.is_provisional(D(2027, 3, 1)) and not cal.is_provisional(D(2026, 3, 1))
    assert not cal.is_workday(D(2027, 1, 1)) and not cal.is_workday(D(2027, 10, 1))
    assert cal.add(D(2026, 12, 30), 2) == D(2027, 1, 4)  # 31 Dec, (1 Jan holiday), 4 Jan
    assert CalendarYear.objects.get(year=2027).status == CalendarYear.PROVISIONAL


def test_operator_edits_take_effect(cal, django_capture_on_commit_callbacks):
    assert cal.is_workday(D(2026, 11, 23))
    with django_capture_on_commit_callbacks(execute=True):
        services.calendar_day_set(acting_user=None, date=D(2026, 11, 23), is_workday=False, name="临时休息")
    assert not workdays.calendar().is_workday(D(2026, 11, 23))


weekday_cal = WorkingCalendar({2024: "official", 2025: "official", 2026: "official"}, {D(2025, 1, 1): False})
days = st.dates(min_value=D(2024, 1, 1), max_value=D(2026, 6, 30))


@given(days, st.integers(min_value=0, max_value=120))
def test_add_and_between_agree(start, n):
    end = weekday_cal.add(start, n)
    assert weekday_cal.between(start, end) == n
    if n:
        assert weekday_cal.is_workday(end)
        assert weekday_cal.between(start, end - dt.timedelta(days=1)) == n - 1


@given(days, days)
def test_between_is_antisymmetric(a, b):
    assert weekday_cal.between(a, b) == -weekday_cal.between(b, a)
