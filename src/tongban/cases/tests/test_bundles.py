"""一件事: one submission fans out to one sub-case per included item, all in parallel."""

import pytest

from tongban.cases import services
from tongban.cases.constants import Action, CaseStatus, Outcome
from tongban.cases.models import Case, CaseTask
from tongban.catalog import services as catalog_services

from .conftest import layout
from .test_services import act

pytestmark = pytest.mark.django_db


@pytest.fixture
def bundle(city):
    questions = {"type": "object", "properties": {"wants_food": {"type": "boolean", "title": "是否开餐馆"}}}
    entries = [
        catalog_services.LifeEventEntry(implementation_code=city["birth"].implementation_code),
        catalog_services.LifeEventEntry(
            implementation_code=city["food"].implementation_code,
            condition={"field": "wants_food", "op": "truthy"},
        ),
    ]
    event = catalog_services.life_event_save(
        acting_user=None,
        code="test",
        name="测试一件事",
        audience="person",
        summary="",
        entries=entries,
        questions=questions,
    )
    catalog_services.life_event_publish(acting_user=None, life_event=event)
    return event


def test_bundle_fans_out_and_closes_when_all_sub_cases_close(city, bundle):
    answers = {"wants_food": True, "baby_name": "小宝", "shop_name": "临江味道", "seats": 20}
    parent = services.case_submit(
        applicant=city["citizen"], life_event=bundle, answers=answers, idempotency_key="b1", uploads=layout()
    )
    subs = {c.title: c for c in parent.sub_cases.all()}
    assert set(subs) == {"出生医学证明签发", "食品经营许可"}
    assert subs["出生医学证明签发"].answers["baby_name"] == "小宝"
    assert "baby_name" not in subs["食品经营许可"].answers  # each department gets only its own fields
    assert subs["食品经营许可"].department == city["market"]
    # A correction in one sub-case does not block the other.
    food = act(
        city, subs["食品经营许可"], "accept", Action.CORRECTION, reason="缺材料", correction_items=["平面图"]
    )
    birth = subs["出生医学证明签发"]
    for step, action in [
        ("accept", Action.ACCEPT),
        ("review", Action.PASS),
        ("decide", Action.APPROVE),
        ("close", Action.CLOSE),
    ]:
        birth = act(city, birth, step, action)
    assert birth.status == CaseStatus.CLOSED
    assert Case.objects.get(pk=parent.pk).status == CaseStatus.CORRECTION
    food = services.case_correct(applicant=city["citizen"], case=food, answers={})
    for step, action in [
        ("accept", Action.ACCEPT),
        ("review", Action.PASS),
        ("review_xfzd", Action.PASS),
        ("decide", Action.APPROVE),
        ("close", Action.CLOSE),
    ]:
        food = act(city, food, step, action)
    parent.refresh_from_db()
    assert parent.status == CaseStatus.CLOSED and parent.outcome == Outcome.APPROVED
    assert parent.events.filter(kind="closed").exists()


def test_excluded_items_get_no_sub_case(city, bundle):
    parent = services.case_submit(
        applicant=city["citizen"],
        life_event=bundle,
        answers={"wants_food": False, "baby_name": "小宝"},
        uploads=layout(),
    )
    assert [c.title for c in parent.sub_cases.all()] == ["出生医学证明签发"]


def test_withdrawing_a_bundle_withdraws_its_open_sub_cases(city, bundle):
    parent = services.case_submit(
        applicant=city["citizen"],
        life_event=bundle,
        answers={"wants_food": True, "baby_name": "小宝", "shop_name": "店", "seats": 1},
        uploads=layout(),
    )
    services.case_withdraw(applicant=city["citizen"], case=parent)
    assert set(parent.sub_cases.values_list("status", flat=True)) == {CaseStatus.WITHDRAWN}
    assert Case.objects.get(pk=parent.pk).status == CaseStatus.WITHDRAWN
    assert not CaseTask.objects.filter(case__parent=parent, status="open").exists()


def test_bundle_reports_answers_and_missing_materials_together(city, bundle):
    with pytest.raises(services.CaseError) as err:
        services.case_submit(
            applicant=city["citizen"], life_event=bundle, answers={"wants_food": True, "seats": 3}
        )
    assert {"baby_name", "shop_name", "material:layout"} <= set(err.value.problems)
    assert not Case.objects.exists()
