"""The data tracker (我的数据被谁用了): who read a person's (or an organisation's) data, through the gateway and
through the registries (the Digital Registries API and staff look-ups), without the reads held back for a
covert purpose (暂缓告知) until their date. One selector for every place that shows it: the person's page
``/my/data-usage/`` and the Digital Registries API's ``myPersonalDataUsage``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from .models import DataAccess


@dataclass(frozen=True)
class Read:
    """One read as its subject sees it."""

    id: str  # "g<pk>" a gateway read, "r<pk>" a registry read
    at: dt.datetime
    department: Any  # identity.Department, None for a platform system
    what: str  # the resource or the registry
    fields: list[str]
    purpose: str
    via_gateway: bool
    client: Any = None  # identity.SystemClient of a registry read, if a system read it
    mediator: str = ""


def without_held(queryset: QuerySet, grant: str = "grant") -> QuerySet:
    """The rows not held back today: ``grant`` is the path to the grant(s) they were made under; a row
    made under any grant whose hold-back date is still ahead is left out (no grant: never held)."""
    return queryset.exclude(**{f"{grant}__hold_until__gt": timezone.localdate()})


def visible_reads(subjects: Sequence[str], *, registry: Any = None, limit: int = 300) -> list[Read]:
    """The reads of these subjects' data the subject may see now, newest first (at most ``limit``);
    ``registry``: only reads of that registry (through it, or through a resource over it)."""
    from tongban.registries.models import RegistryRead

    gateway = without_held(DataAccess.objects.filter(subject__in=subjects)).select_related(
        "resource", "consumer"
    )
    registry_reads = without_held(RegistryRead.objects.filter(subject__in=subjects), "grants").select_related(
        "registry", "reader_department", "client__application"
    )
    if registry is not None:
        gateway = gateway.filter(resource__registry=registry)
        registry_reads = registry_reads.filter(registry=registry)
    rows = [
        Read(
            id=f"g{a.pk}",
            at=a.at,
            department=a.consumer,
            what=a.resource.name,
            fields=a.fields,
            purpose=a.purpose,
            via_gateway=True,
        )
        for a in gateway[:limit]
    ]
    rows += [
        Read(
            id=f"r{r.pk}",
            at=r.at,
            department=r.reader_department,
            what=r.registry.name,
            fields=r.fields,
            purpose="",
            via_gateway=False,
            client=r.client,
            mediator=r.mediator,
        )
        for r in registry_reads[:limit]
    ]
    rows.sort(key=lambda row: row.at, reverse=True)
    return rows[:limit]
