"""Shared services: the audit trail."""

from __future__ import annotations

from typing import Any

from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from . import fastinsert
from .codes import mask_login_identifier
from .constants import AuditEventType, AuditOutcome
from .http import client_ip  # the one definition of a request's client address
from .models import AuditEvent


def audit_event(
    *,
    event_type: str,
    acting_user: Any = None,
    request: HttpRequest | None = None,
    actor_label: str = "",
    outcome: str = AuditOutcome.SUCCESS,
    target: models.Model | None = None,
    department: Any = None,
    extra_data: dict[str, Any] | None = None,
) -> AuditEvent:
    """An unsaved audit event (for bulk writers); ``audit_record`` saves one."""
    user = (
        acting_user if acting_user is not None and getattr(acting_user, "is_authenticated", False) else None
    )
    if not actor_label and user is not None:
        # Citizens log in with their ID number: the trail keeps it masked like everywhere it is not needed.
        actor_label = mask_login_identifier(user.get_username())
    extra_data = dict(extra_data or {})
    mediator = getattr(request, "mediator_client", None)
    if mediator:
        # Made through the GovStack API: the record names the calling system, so one row says it all.
        extra_data.setdefault("mediator", mediator)
        client = getattr(request, "system_client", None)
        if client is not None:
            extra_data.setdefault("client", client.application.client_id)
    return AuditEvent(
        at=timezone.now(),
        event_type=event_type,
        outcome=outcome,
        actor=user,
        actor_label=actor_label[:150],
        ip_address=client_ip(request),
        user_agent=(request.headers.get("User-Agent", "")[:300] if request is not None else ""),
        request_id=getattr(request, "request_id", "") if request is not None else "",
        department=department,
        target_type=target._meta.label if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        extra_data=extra_data,
    )


def audit_record(**kwargs: Any) -> AuditEvent:
    """Append one audit event (see audit_event for the arguments). Call inside the service's transaction so
    the record commits with the change; for failed attempts call it after the rollback so the trace survives."""
    return fastinsert.insert(audit_event(**kwargs))  # every service writes one: no ORM query building


# ---- working-day calendar ------------------------------------------------------------------------------

# Statutory holidays on fixed solar dates (《全国年节及纪念日放假办法》, 2025 revision); lunar-date holidays
# (春节, 清明, 端午, 中秋) and 调休 are only known once the State Council publishes the year.
FIXED_HOLIDAYS = [
    ((1, 1), "元旦"),
    ((5, 1), "劳动节"),
    ((5, 2), "劳动节"),
    ((10, 1), "国庆节"),
    ((10, 2), "国庆节"),
    ((10, 3), "国庆节"),
]


def calendar_seed_official(*, acting_user: Any = None, years: list[int] | None = None) -> list[int]:
    """Load the State Council holiday schedules shipped in the chinesecalendar package (official years)."""
    import chinese_calendar.constants as cc

    from . import workdays
    from .models import CalendarDay, CalendarYear

    known = sorted(
        {d.year for d in cc.holidays} & {d.year for d in cc.workdays} if years is None else set(years)
    )
    with transaction.atomic(durable=True):
        for year in known:
            CalendarYear.objects.update_or_create(
                year=year,
                defaults={
                    "status": CalendarYear.OFFICIAL,
                    "source": "chinesecalendar 1.11.0 (国务院办公厅通知)",
                },
            )
            CalendarDay.objects.filter(date__year=year).delete()
            days = [
                CalendarDay(date=d, is_workday=False, name=str(name).split(",")[0])
                for d, name in cc.holidays.items()
                if d.year == year
            ]
            days += [
                CalendarDay(date=d, is_workday=True, name="调休上班") for d in cc.workdays if d.year == year
            ]
            CalendarDay.objects.bulk_create(days)
        audit_record(
            event_type=AuditEventType.CALENDAR_CHANGED,
            acting_user=acting_user,
            extra_data={"action": "seed_official", "years": known},
        )
        transaction.on_commit(workdays.invalidate)
    return known


def calendar_year_provisional(*, acting_user: Any, year: int) -> None:
    """Open a year whose schedule is not published yet: weekends and the fixed-date holidays, flagged
    provisional everywhere deadlines are shown, until an operator enters the official schedule."""
    import datetime as dt

    from . import workdays
    from .models import CalendarDay, CalendarYear

    with transaction.atomic(durable=True):
        if CalendarYear.objects.filter(year=year, status=CalendarYear.OFFICIAL).exists():
            raise ValueError(_("%(year)d年已有正式日历。") % {"year": year})
        CalendarYear.objects.update_or_create(
            year=year, defaults={"status": CalendarYear.PROVISIONAL, "source": _("暂定：周末与固定日期节日")}
        )
        for (month, day), name in FIXED_HOLIDAYS:
            CalendarDay.objects.update_or_create(
                date=dt.date(year, month, day), defaults={"is_workday": False, "name": name}
            )
        audit_record(
            event_type=AuditEventType.CALENDAR_CHANGED,
            acting_user=acting_user,
            extra_data={"action": "provisional", "year": year},
        )
        transaction.on_commit(workdays.invalidate)


def calendar_day_set(
    *, acting_user: Any, date: Any, is_workday: bool, name: str = "", official: bool | None = None
) -> None:
    """An operator records a holiday or a make-up working day; ``official`` marks the year published."""
    from . import workdays
    from .models import CalendarDay, CalendarYear

    with transaction.atomic(durable=True):
        year = CalendarYear.objects.select_for_update().filter(year=date.year).first()
        if year is None:
            raise ValueError(_("%(year)d年的工作日历尚未建立。") % {"year": date.year})
        CalendarDay.objects.update_or_create(date=date, defaults={"is_workday": is_workday, "name": name})
        if official is not None:
            year.status = CalendarYear.OFFICIAL if official else CalendarYear.PROVISIONAL
            year.save(update_fields=["status", "updated_at"])
        audit_record(
            event_type=AuditEventType.CALENDAR_CHANGED,
            acting_user=acting_user,
            extra_data={"date": date.isoformat(), "is_workday": is_workday, "name": name},
        )
        transaction.on_commit(workdays.invalidate)
