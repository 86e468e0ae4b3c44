"""Drafts (申请草稿): save an application before submitting it, files included, and submit it later.

Saving keeps whatever is good: the answers always, each file that passes the checks; a refused file is
reported and the one saved before it stays. Submitting goes through case_submit with the draft's answers
and files; the draft is removed only once the case exists."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from tongban.catalog import services as catalog_services
from tongban.catalog.fields import check_answers
from tongban.catalog.models import LifeEvent, ServiceItem
from tongban.identity.models import Organisation, User
from tongban.identity.selectors import can_act_for, organisations_for, valid_agencies

from .documents import DocumentError, document_store
from .models import Case, CaseDocument, Draft
from .services import CaseError, case_submit

# Drafts untouched this long are removed by the daily sweep (files included).
DRAFT_DAYS = 30


def draft_key(
    item: ServiceItem | None, life_event: LifeEvent | None, organisation: Organisation | None
) -> str:
    target = f"item:{item.pk}" if item is not None else f"event:{life_event.pk}"
    return f"{target}|org:{organisation.pk if organisation else '-'}"


def drafts_of(user: User) -> QuerySet[Draft]:
    """The drafts ``user`` may see, continue and discard: their own, and of those made for an
    organisation only while they may still act for it (``organisations_for``). A draft is its author's
    work, never shown to the organisation's other representatives; a former agent's goes with the sweep."""
    return Draft.objects.filter(applicant=user).filter(
        Q(organisation__isnull=True) | Q(organisation__in=organisations_for(user).order_by().values("pk"))
    )


def draft_for(
    applicant: User,
    *,
    item: ServiceItem | None = None,
    life_event: LifeEvent | None = None,
    organisation: Organisation | None = None,
) -> Draft | None:
    return (
        drafts_of(applicant)
        .filter(key=draft_key(item, life_event, organisation))
        .prefetch_related("documents")
        .first()
    )


def _materials(item: ServiceItem | None, life_event: LifeEvent | None) -> dict[str, Any]:
    """Material code -> catalogue material (for a bundle: the first item's that asks for it)."""
    if item is not None:
        return {m.code: m for m in item.published_version.materials.all()}
    found: dict[str, Any] = {}
    for version in catalog_services.merged_form(life_event).items:
        for material in version.materials.all():
            found.setdefault(material.code, material)
    return found


def draft_save(
    *,
    applicant: User,
    answers: Mapping[str, Any],
    item: ServiceItem | None = None,
    life_event: LifeEvent | None = None,
    organisation: Organisation | None = None,
    uploads: Mapping[str, Any] | None = None,
) -> tuple[Draft, dict[str, str]]:
    """Create or update the applicant's draft; returns it and the problems of refused answers (by field)
    and files (by ``material:<code>``). Answers go through the same field checks as a submission, without
    asking for required ones: a refused answer is not stored (a draft never holds a value the form refuses,
    nor an over-long or control-character payload), the rest is. A new file for a material replaces the
    one saved before."""
    if not applicant.is_public:
        raise CaseError(_("请使用个人或法人账号提交申请。"), code="forbidden")
    if (item is None) == (life_event is None):
        raise CaseError(_("请选择要办理的事项。"))
    if organisation is not None and not can_act_for(applicant, organisation):
        raise CaseError(_("您不是该组织的法定代表人或有效经办人。"), code="forbidden")
    title = item.published_version.name if item is not None else life_event.name
    schema = (
        item.published_version.form_schema
        if item is not None
        else catalog_services.merged_form(life_event).schema
    )
    checked = check_answers(schema, answers, partial=True)
    with transaction.atomic(durable=True):
        draft, _created = Draft.objects.select_for_update().get_or_create(
            applicant=applicant,
            key=draft_key(item, life_event, organisation),
            defaults={"item": item, "life_event": life_event, "organisation": organisation, "title": title},
        )
        draft.answers = {k: v for k, v in checked.values.items() if v not in ("", None, [])}
        draft.title = title
        draft.updated_at = timezone.now()
        draft.save()
    problems: dict[str, str] = dict(checked.problems)
    materials = _materials(item, life_event) if uploads else {}
    for code, upload in (uploads or {}).items():
        if code not in materials:
            continue
        upload.seek(0)
        try:
            with transaction.atomic(durable=True):
                old = list(draft.documents.filter(material_code=code))
                document_store(uploader=applicant, upload=upload, material=materials[code], draft=draft)
                _delete_documents(old)
        except DocumentError as exc:
            problems[f"material:{code}"] = str(exc)
    return draft, problems


def draft_submit(draft: Draft, *, request: HttpRequest | None = None) -> Case:
    """Submit a draft; the draft goes once the case exists. The draft is the idempotency key: a double
    click or a second tab on the same draft returns the same case. Its files go through the same checks
    as direct uploads, copied to each case that needs them."""
    uploads = {}
    for document in draft.documents.all():
        with document.file.open("rb") as fh:
            upload = ContentFile(fh.read(), name=document.original_name)
        uploads[document.material_code] = upload
    case = case_submit(
        applicant=draft.applicant,
        answers=draft.answers,
        item=draft.item,
        life_event=draft.life_event,
        organisation=draft.organisation,
        idempotency_key=f"draft:{draft.pk}:{draft.created_at.timestamp():.6f}",
        uploads=uploads,
        request=request,
    )
    draft_delete(draft)
    return case


def draft_delete(draft: Draft) -> None:
    with transaction.atomic(durable=True):
        documents = list(draft.documents.all())
        Draft.objects.filter(pk=draft.pk).delete()
        _delete_documents(documents)


def _delete_documents(documents: list[CaseDocument]) -> None:
    """Delete the rows now and the files once that commits (a rollback keeps both)."""
    CaseDocument.objects.filter(pk__in=[d.pk for d in documents]).delete()
    files = [d.file for d in documents]
    transaction.on_commit(lambda: [f.delete(save=False) for f in files])


def drafts_purge(*, days: int = DRAFT_DAYS) -> int:
    """Remove drafts nobody has touched for ``days`` days, and drafts for an organisation whose author
    may no longer act for it (agency revoked or expired, no longer its legal representative: the
    organisation's data and files do not stay with them); returns how many."""
    agency = valid_agencies().filter(
        organisation_id=OuterRef("organisation_id"), person_id=OuterRef("applicant__person_id")
    )
    orphaned = (
        Q(organisation__isnull=False)
        & ~Q(organisation__legal_representative_id=F("applicant__person_id"))
        & ~Exists(agency)
    )
    stale = Draft.objects.filter(Q(updated_at__lt=timezone.now() - dt.timedelta(days=days)) | orphaned)
    count = 0
    for draft in stale.prefetch_related("documents"):
        draft_delete(draft)
        count += 1
    return count
