"""Submission: an application for a published item or bundle, idempotent, by the applicant or a system
that files for them; and its checks without writing anything (the review step)."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from tongban.catalog import services as catalog_services
from tongban.catalog.models import LifeEvent, ServiceItem
from tongban.identity.models import Organisation, SystemClient, User
from tongban.identity.selectors import can_act_for, client_has_consent

from ..models import Case
from ..selectors import materials_needed
from .base import CONSENT_SCOPE, CaseError, _client_refused, _no_consent, _other_department, check_application
from .bundles import _bundle_materials, _submit_bundle
from .items import _check_applicant_type, _locked_published, _submit_item


def case_submit(
    *,
    applicant: User,
    answers: Mapping[str, Any],
    item: ServiceItem | None = None,
    life_event: LifeEvent | None = None,
    idempotency_key: str = "",
    organisation: Organisation | None = None,
    uploads: Mapping[str, Any] | None = None,
    documents: Sequence[Any] = (),
    client: SystemClient | None = None,
    request: HttpRequest | None = None,
) -> Case:
    """Submit an application for a published item or bundle (uploads keyed by material code). The same idempotency key from the same applicant
    returns the case already created (double click, retry after a timeout, two tabs).

    ``client``: another system files for the applicant (GovStack API). It needs the applicant's live
    authorisation for CONSENT_SCOPE (for an organisation: the authorisation of its legal representative or
    valid agent, who is then the applicant), and files only into its own department's items. Refusals are
    audited."""
    if not applicant.is_public:
        raise CaseError(_("请使用个人或法人账号提交申请。"), code="forbidden")
    if organisation is not None and not can_act_for(applicant, organisation):
        if client is not None:
            _client_refused(client, request, "case_submit", "no_delegation", applicant=applicant)
        raise CaseError(_("您不是该组织的法定代表人或有效经办人。"), code="forbidden")
    if client is not None and not client_has_consent(user=applicant, client=client, scope=CONSENT_SCOPE):
        _client_refused(client, request, "case_submit", "no_consent", applicant=applicant)
        raise CaseError(_no_consent(), code="forbidden")
    key = (idempotency_key or "")[:64]
    # A repeated key is found by the unique constraint, not looked up first: the lookup would cost every
    # submission a query, and a retry is rare. A retry that fails validation (the item was withdrawn since,
    # say) still gets the case its first attempt created.
    try:
        with transaction.atomic(durable=True):
            if life_event is not None:
                if client is not None:  # a bundle spans departments: filed by the person only
                    raise CaseError(_other_department(), code="forbidden")
                return _submit_bundle(
                    applicant, life_event, answers, key, organisation, request, uploads or {}, documents
                )
            if item is None:
                raise CaseError(_("请选择要办理的事项。"))
            return _submit_item(
                applicant,
                item,
                answers,
                key,
                organisation,
                request,
                uploads=uploads or {},
                documents=documents,
                client=client,
            )
    except (IntegrityError, CaseError) as exc:
        existing = _submitted_before(applicant, key)
        if existing is None:
            if client is not None and isinstance(exc, CaseError) and exc.code == "forbidden":
                _client_refused(client, request, "case_submit", "other_department", applicant=applicant)
            raise
        return existing


def _submitted_before(applicant: User, key: str) -> Case | None:
    if not key:
        return None
    return Case.objects.filter(applicant=applicant, idempotency_key=key, parent__isnull=True).first()


def case_check(
    *,
    applicant: User,
    answers: Mapping[str, Any],
    item: ServiceItem | None = None,
    life_event: LifeEvent | None = None,
    organisation: Organisation | None = None,
    supplied: set[str] | frozenset[str] = frozenset(),
) -> None:
    """case_submit's checks without writing anything (the review step before submitting): raises
    CaseError with every problem of the answers and every material missing from ``supplied``."""
    if life_event is not None:
        merged = catalog_services.merged_form(life_event, dict(answers))
        schema, needed = merged.schema, functools.partial(_bundle_materials, merged)
    elif item is not None:
        version = _locked_published(item)
        _check_applicant_type(version, organisation)
        schema, needed = version.form_schema, functools.partial(materials_needed, version)
    else:
        raise CaseError(_("请选择要办理的事项。"))
    check_application(
        schema, answers, applicant=applicant, organisation=organisation, needed=needed, supplied=supplied
    )
