"""Change sequence numbers of the registries: every record written carries the number of its latest change,
and every record deleted or moved to another area leaves a tombstone with one. A change feed is then the
records and tombstones above a cursor in number order: the first pass from 0 is the snapshot, later passes
the changes, each record at its latest state (a compacted log), so that a replayed page changes nothing.

Numbers are handed out under a row lock on the registry's counter that the writer holds until it commits:
the order of numbers is the order of commits, so a reader that has seen number n has seen every number
below it and can resume from n."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from .models import FeedCounter, Registry, Tombstone

AREA_FIELD = "area_code"  # the field whose change moves a record from one area's feed to another's


def allocate(registry: Registry | int, count: int) -> int:
    """Reserve ``count`` consecutive numbers; returns the first. Call inside the writer's transaction."""
    if count <= 0:
        return 0
    registry_id = registry if isinstance(registry, int) else registry.pk
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("allocate() must run inside the writer's transaction")
    updated = FeedCounter.objects.filter(registry_id=registry_id).update(last=F("last") + count)
    if not updated:
        FeedCounter.objects.get_or_create(registry_id=registry_id)
        FeedCounter.objects.filter(registry_id=registry_id).update(last=F("last") + count)
    last = FeedCounter.objects.filter(registry_id=registry_id).values_list("last", flat=True).get()
    return last - count + 1


def high_water(registry: Registry | int) -> int:
    """The last number handed out (committed or not): where a new subscription's snapshot ends."""
    registry_id = registry if isinstance(registry, int) else registry.pk
    return FeedCounter.objects.filter(registry_id=registry_id).values_list("last", flat=True).first() or 0


def tombstone(registry: Registry, key: str, seq: int, *, area: str, moved_to: str = "") -> None:
    Tombstone.objects.create(registry=registry, key=key, seq=seq, area=area or "", moved_to=moved_to or "")
