"""Catalogue test data built through the real services."""

import copy
import itertools

from tongban.catalog import services
from tongban.catalog.demo_fields import PERSON, schema, simple

_serial = itertools.count(1)


def content(**fields) -> services.ItemContent:
    data = {
        "name": "测试事项",
        "item_type": "01",
        "summary": "",
        "applicant_types": ["person"],
        "legal_basis": "《测试条例》第一条",
        "conditions": "",
        "statutory_days": 20,
        "committed_days": 5,
        "fee_free": True,
        "fee_description": "",
        "channels": ["online"],
        "online_depth": "full_online",
        "max_visits": 0,
        "result_name": "",
        "result_licence_type": "",
        "form_schema": schema(list(PERSON)),
        "workflow": simple(),
        "keywords": "",
        "contact": "",
    }
    data.update(fields)
    return services.ItemContent(fields=copy.deepcopy(data), materials=[], themes=[])


def published_item(department, **fields):
    version = services.item_create(
        acting_user=None,
        department=department,
        basic_code=f"01{next(_serial):05d}00000",
        content=content(**fields),
    )
    from django.db import transaction

    with transaction.atomic():
        services.publish_in_transaction(acting_user=None, version=version, require_review=False)
    version.refresh_from_db()
    return version
