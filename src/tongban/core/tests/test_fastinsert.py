"""fastinsert writes the same row the ORM would, on both databases."""

import pytest
from django.db.models.signals import post_save
from django.utils import timezone

from tongban.core import fastinsert
from tongban.core.models import AuditEvent
from tongban.identity.tests.factories import DepartmentFactory

pytestmark = pytest.mark.django_db


def test_same_row_as_the_orm():
    department = DepartmentFactory()
    fields = {
        "at": timezone.now(),
        "event_type": "case_submitted",
        "actor_label": "张*",
        "department": department,
        "target_type": "cases.Case",
        "target_id": "7",
        "extra_data": {"number": "33990020261121000001", "嵌套": [1, {"a": None}]},
    }
    fast = fastinsert.insert(AuditEvent(**fields))
    slow = AuditEvent.objects.create(**fields)
    assert fast.pk and fast.pk != slow.pk and not fast._state.adding
    stored = AuditEvent.objects.get(pk=fast.pk)
    for name in (
        "event_type",
        "actor_label",
        "department_id",
        "target_type",
        "target_id",
        "extra_data",
        "outcome",
    ):
        assert getattr(stored, name) == getattr(AuditEvent.objects.get(pk=slow.pk), name)
    assert (
        stored.at == fields["at"] and stored.outcome == "success"
    )  # the field default, as save() applies it


def test_no_signal_receivers_on_the_models_it_writes():
    from tongban.cases.models import Case, CaseEvent, CaseTask

    for model in (AuditEvent, Case, CaseEvent, CaseTask):
        assert not post_save.has_listeners(model), f"{model.__name__} has save listeners: use save()"
