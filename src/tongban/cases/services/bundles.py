"""Bundles (一件事): one application for a life event's items, filed as a parent case with a sub-case per
item in its department; the parent follows its sub-cases."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from tongban.catalog import services as catalog_services
from tongban.catalog.models import Material, ServiceItemVersion
from tongban.core.constants import AuditEventType
from tongban.core.services import audit_record

from ..constants import FINAL_STATUSES, CaseStatus, EventKind, Outcome
from ..models import Case, CaseEvent
from ..selectors import materials_needed
from .base import _event, check_application
from .items import _assign_number, _provisional_number, _query_code, _submit_item


def _item_answers(merged: Any, data: Mapping[str, Any], version: ServiceItemVersion) -> dict[str, Any]:
    """One included item's own answers, mapped back from the bundle's merged form."""
    return {
        item_field: data[merged_field]
        for merged_field, sources in merged.sources.items()
        for code, item_field in sources
        if code == version.item.implementation_code and merged_field in data
    }


def _bundle_materials(merged: Any, answers: Mapping[str, Any]) -> list[Material]:
    """The materials the bundle's included items need, each for its own answers."""
    return [
        m
        for version in merged.items
        for m in materials_needed(version, _item_answers(merged, answers, version))
    ]


def _submit_bundle(applicant, life_event, answers, key, organisation, request, uploads, documents=()) -> Case:
    merged = catalog_services.merged_form(life_event, dict(answers))
    # As for one item: the answers and the materials still missing from any included item, told together
    # before any sub-case is made.
    data = check_application(
        merged.schema,
        answers,
        applicant=applicant,
        organisation=organisation,
        needed=functools.partial(_bundle_materials, merged),
        supplied=set(uploads or {}) | {d.material_code for d in documents},
    )
    per_item = {version.pk: _item_answers(merged, data, version) for version in merged.items}
    first = merged.items[0].item
    parent = Case.objects.create(
        number=_provisional_number(),
        query_code=_query_code(),
        applicant=applicant,
        organisation=organisation,
        life_event=life_event,
        title=life_event.name,
        answers=data,
        idempotency_key=key,
    )
    for version in merged.items:
        _submit_item(
            applicant,
            version.item,
            per_item[version.pk],
            "",
            organisation,
            request,
            parent=parent,
            uploads=uploads,
            documents=documents,
        )
    if parent.sub_cases.exclude(status=CaseStatus.SUBMITTED).exists():
        _refresh_parent(parent.pk)  # some sub-cases were decided instantly (秒批)
    _assign_number(parent, first.department.area.code)
    _event(parent, EventKind.SUBMITTED, _("已提交，%(n)d个部门将同时办理") % {"n": len(merged.items)})
    audit_record(
        event_type=AuditEventType.CASE_SUBMITTED,
        acting_user=applicant,
        request=request,
        target=parent,
        extra_data={"number": parent.number, "sub_cases": len(merged.items)},
    )
    return parent


def _refresh_parent(parent_id: int) -> None:
    """A bundle's case follows its sub-cases: closed when all are final, in progress while any is open."""
    parent = Case.objects.select_for_update().get(pk=parent_id)
    statuses = list(Case.objects.filter(parent_id=parent_id).values_list("status", "outcome"))
    finals = set(FINAL_STATUSES)
    if all(s in finals for s, _o in statuses):
        if parent.status not in finals:
            approved = sum(1 for s, o in statuses if s == CaseStatus.CLOSED and o == Outcome.APPROVED)
            uniform = {s for s, _o in statuses}
            # All withdrawn (or all refused) reads as such; any mix of endings is a closed bundle.
            parent.status = uniform.pop() if len(uniform) == 1 else CaseStatus.CLOSED
            parent.closed_at = timezone.now()
            parent.outcome = (
                Outcome.APPROVED
                if approved == len(statuses)
                else (Outcome.REJECTED if approved == 0 else Outcome.APPROVED)
            )
            parent.save(update_fields=["status", "closed_at", "outcome"])
            CaseEvent.objects.create(
                case=parent,
                kind=EventKind.CLOSED,
                message=_("全部事项已办结（%(a)d/%(n)d 项准予）") % {"a": approved, "n": len(statuses)},
            )
    elif any(s == CaseStatus.CORRECTION for s, _o in statuses):
        parent.status = CaseStatus.CORRECTION
        parent.save(update_fields=["status"])
    elif parent.status != CaseStatus.IN_PROGRESS:
        parent.status = CaseStatus.IN_PROGRESS
        parent.save(update_fields=["status"])
