"""一件事: one submission fans out to one sub-case per included item, all in parallel."""

import pytest
from django.db import connection

from tongban.cases import services
from tongban.cases.constants import Action, CaseStatus, Outcome
from tongban.cases.models import Case, CaseTask
from tongban.catalog import services as catalog_services

from .conftest import act, food_answers, layout, publish

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


def test_bundle_tells_every_item_s_missing_materials_at_once(city):
    """One check for a bundle as for one item: with the answers right, the materials missing from every
    included item are told in one refusal (一次性告知), not the first item's alone; nothing is filed. The
    review step (case_check) says the same."""
    from tongban.catalog.demo_fields import FIELDS, PERSON, simple

    proof = publish(
        city["health"],
        "070000200000",
        name="出生登记",
        workflow=simple(),
        form_schema={
            "type": "object",
            "required": [*PERSON, "baby_name"],
            "properties": {**{k: FIELDS[k] for k in PERSON}, "baby_name": FIELDS["baby_name"]},
        },
        materials=[{"code": "birth_proof", "name": "出生医学证明", "formats": ["pdf"]}],
    )
    event = catalog_services.life_event_save(
        acting_user=None,
        code="two-materials",
        name="两份材料的一件事",
        audience="person",
        summary="",
        entries=[
            catalog_services.LifeEventEntry(implementation_code=proof.implementation_code),
            catalog_services.LifeEventEntry(implementation_code=city["food"].implementation_code),
        ],
    )
    catalog_services.life_event_publish(acting_user=None, life_event=event)
    answers = {"baby_name": "小宝", "shop_name": "临江味道", "seats": 20}
    with pytest.raises(services.CaseError) as err:
        services.case_submit(applicant=city["citizen"], life_event=event, answers=answers)
    assert err.value.message == "还缺少 2 份材料。"
    assert err.value.problems == {
        "material:birth_proof": "请上传“出生医学证明”。",
        "material:layout": "请上传“经营场所平面布局图”。",
    }
    assert not Case.objects.exists()
    with pytest.raises(services.CaseError) as checked:
        services.case_check(applicant=city["citizen"], life_event=event, answers=answers)
    assert (checked.value.message, checked.value.problems) == (err.value.message, err.value.problems)


def test_a_bundle_submission_costs_no_more_queries(city, bundle, django_assert_max_num_queries):
    answers = {"wants_food": True, "baby_name": "小宝", "shop_name": "店", "seats": 1}
    # Each item submitted once first: its published version and departments are kept per process.
    services.case_submit(
        applicant=city["citizen"], item=city["food"], answers=food_answers(), uploads=layout()
    )
    services.case_submit(applicant=city["citizen"], item=city["birth"], answers={"baby_name": "小宝"})
    # 29 on SQLite and 26 on PostgreSQL before the one check (the items' materials now come with the form).
    with django_assert_max_num_queries(28 if connection.vendor == "sqlite" else 25):
        services.case_submit(applicant=city["citizen"], life_event=bundle, answers=answers, uploads=layout())
