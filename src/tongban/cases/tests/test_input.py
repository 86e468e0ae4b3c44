"""Bad values never reach staff as if valid (issue 15 #11): each attack of the review, on the form page
(the Chinese message next to the field), on a saved draft, through the GovStack Registration API (status
and message), in a bundled form and in a correction. All go through catalog.fields.check_answers."""

import datetime as dt
import json

import pytest
from django.test import Client
from django.utils import timezone

from tongban.cases import services
from tongban.cases.constants import CaseStatus
from tongban.cases.models import Case, Draft
from tongban.cases.services import CaseError
from tongban.catalog import services as catalog_services
from tongban.catalog.demo_fields import FIELDS, PERSON, simple
from tongban.core import codes
from tongban.testing import token

from .conftest import citizen_client, consent, publish

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
MOTHER = codes.make_resident_id("330102", dt.date(1992, 5, 1), 22)  # even 17th digit: a woman
FATHER = codes.make_resident_id("330102", dt.date(1990, 3, 9), 21)
WEIGHT = {"type": "number", "title": "出生体重（千克）", "minimum": 0.5, "maximum": 8}
FORM = {
    "type": "object",
    "required": [
        *PERSON,
        "baby_name",
        "baby_birth_date",
        "birth_weight_kg",
        "mother_name",
        "mother_id_number",
    ],
    "properties": {
        **{k: FIELDS[k] for k in PERSON},
        **{k: FIELDS[k] for k in ("baby_name", "baby_birth_date", "mother_name", "mother_id_number")},
        "father_id_number": FIELDS["father_id_number"],
        "birth_weight_kg": WEIGHT,
        "reason": FIELDS["reason"],
    },
}


def good(**changes):
    return {
        "baby_name": "小宝",
        "baby_birth_date": (TODAY - dt.timedelta(days=10)).isoformat(),
        "birth_weight_kg": 3.2,
        "mother_name": "李梅",
        "mother_id_number": MOTHER,
        "father_id_number": FATHER,
        "reason": "第一行\n第二行",
        **changes,
    }


def wrong_check_digit(number):
    return number[:17] + ("0" if number[17] != "0" else "1")


def with_check_digit(first17):
    return first17 + codes.resident_id_check_char(first17)


ID_MSG = "“母亲公民身份号码”："
# (field, value typed on the page, value an API sends, the message)
ATTACKS = [
    ("mother_id_number", wrong_check_digit(MOTHER), None, ID_MSG + "公民身份号码的校验码（第18位）不正确。"),
    (
        "mother_id_number",
        with_check_digit("33010220301341002"),  # born 2030-13-41
        None,
        ID_MSG + "公民身份号码第7至14位不是真实的出生日期。",
    ),
    (
        "mother_id_number",
        codes.make_resident_id("330102", TODAY + dt.timedelta(days=400), 22),
        None,
        ID_MSG + "公民身份号码中的出生日期不在合理范围内。",
    ),
    ("mother_id_number", FATHER, None, ID_MSG + "公民身份号码第17位（性别码）表明是男性，与本栏不符。"),
    (
        "father_id_number",
        MOTHER,
        None,
        "“父亲公民身份号码”：公民身份号码第17位（性别码）表明是女性，与本栏不符。",
    ),
    ("baby_birth_date", (TODAY + dt.timedelta(days=1)).isoformat(), None, "“出生日期”不能晚于今天。"),
    (
        "baby_birth_date",
        "2030-13-41",
        None,
        "“出生日期”不是真实的日期，请按“年-月-日”填写（如 2024-05-01）。",
    ),
    ("birth_weight_kg", "1e308", 1e308, "“出生体重（千克）”请填写 0.5–8 之间的数字。"),
    ("birth_weight_kg", "inf", float("inf"), "“出生体重（千克）”请填写 0.5–8 之间的数字。"),
    ("birth_weight_kg", "nan", float("nan"), "“出生体重（千克）”请填写 0.5–8 之间的数字。"),
    ("birth_weight_kg", "80", 80, "“出生体重（千克）”请填写 0.5–8 之间的数字。"),
    ("mother_name", "张" * 1_000_000, None, "“母亲姓名”不能超过 60 个字。"),  # 3 MB
    ("mother_name", "李\u202e梅", None, "“母亲姓名”含有不允许的控制字符 U+202E，请删除后重新填写。"),
    ("mother_name", "李\u200f梅", None, "“母亲姓名”含有不允许的控制字符 U+200F，请删除后重新填写。"),
    ("mother_name", "李\n梅", None, "“母亲姓名”只能填写一行文字。"),
    ("reason", "说明\x00", None, "“申请事由”含有不允许的控制字符 U+0000，请删除后重新填写。"),
    ("reason", "说\x85明", None, "“申请事由”含有不允许的控制字符 U+0085，请删除后重新填写。"),
    ("reason", "\u2067说明", None, "“申请事由”含有不允许的控制字符 U+2067，请删除后重新填写。"),
    ("reason", "长" * 501, None, "“申请事由”不能超过 500 个字。"),
]
IDS = [f"{a[0]}-{i}" for i, a in enumerate(ATTACKS)]


@pytest.fixture
def newborn(city):
    return publish(city["health"], "070000200000", name="新生儿登记", workflow=simple(), form_schema=FORM)


def page_url(item):
    return f"/services/items/{item.implementation_code}/apply/"


def post_form(client, url, answers, action="next"):
    data = {"action": action, **{k: str(v) for k, v in answers.items()}}
    return client.post(url, data)


def error_next_to(field, message):
    return f'<p class="error" id="f-{field}-error">{message}</p>'


def test_good_answers_pass_everywhere(city, newborn):
    response = post_form(citizen_client(city), page_url(newborn), good())
    assert response.status_code == 302, response.content.decode()[-2000:]
    case = services.case_submit(
        applicant=city["citizen"], item=newborn, answers=good(mother_id_number=MOTHER.lower())
    )
    assert case.answers["mother_id_number"] == MOTHER  # kept in canonical form
    assert case.answers["reason"] == "第一行\n第二行"


@pytest.mark.parametrize(("field", "typed", "_sent", "message"), ATTACKS, ids=IDS)
def test_attack_on_the_page_is_shown_next_to_the_field(city, newborn, field, typed, _sent, message):
    response = post_form(citizen_client(city), page_url(newborn), good(**{field: typed}))
    body = response.content.decode()
    assert response.status_code == 200
    assert error_next_to(field, message) in body
    assert "申请信息有 1 处需要修改，其余内容已保存。" in body
    assert not Case.objects.exists()
    saved = Draft.objects.get().answers
    assert field not in saved and saved["baby_name"] == "小宝"  # the refused value is not stored, the rest is


def test_draft_save_refuses_the_payload_and_keeps_the_rest(city, newborn):
    client = citizen_client(city)
    response = post_form(
        client, page_url(newborn), {"mother_name": "李\u202e梅", "baby_name": "小宝"}, "save"
    )
    assert response.status_code == 200
    assert error_next_to("mother_name", "“母亲姓名”含有不允许的控制字符 U+202E，请删除后重新填写。") in (
        response.content.decode()
    )
    saved = Draft.objects.get().answers
    assert "mother_name" not in saved and saved["baby_name"] == "小宝"
    # An incomplete draft is still saved without complaint: required fields are asked for on "next".
    assert post_form(client, page_url(newborn), {"baby_name": "小宝"}, "save").status_code == 302


@pytest.mark.parametrize(("field", "typed", "sent", "message"), ATTACKS, ids=IDS)
def test_attack_through_the_registration_api(city, newborn, field, typed, sent, message):
    consent(city["citizen"], city["health"])
    headers = token(city["health"], "registration.apply")
    value = typed if sent is None else sent
    body = {"applicantId": str(city["citizen"].uuid), "formData": {"data": good(**{field: {"value": value}})}}
    response = Client().post(
        f"/api/registration/services/{newborn.uuid}/applications",
        # NaN and Infinity as Python's json writes them (and json.loads reads them); 3 MB of 张 is 3 MB
        json.dumps(body, ensure_ascii=False).encode(),
        content_type="application/json",
        **headers,
    )
    assert response.status_code == 400, response.content[:300]
    assert response.json()["detail"] == f"申请信息有 1 处需要修改。 {field}: {message}"
    assert not Case.objects.exists()


def test_api_refuses_wrong_types_and_unknown_fields(city, newborn):
    consent(city["citizen"], city["health"])
    headers = token(city["health"], "registration.apply")
    data = good(baby_name=["小宝"], birth_weight_kg=True, **{"x" * 5000: 1})
    body = {"applicantId": str(city["citizen"].uuid), "formData": {"data": data}}
    response = Client().post(
        f"/api/registration/services/{newborn.uuid}/applications",
        json.dumps(body),
        content_type="application/json",
        **headers,
    )
    detail = response.json()["detail"]
    assert response.status_code == 400
    assert "baby_name: “新生儿姓名”应填写文字。" in detail
    assert "birth_weight_kg: “出生体重（千克）”请填写 0.5–8 之间的数字。" in detail
    assert f"{'x' * 60}: 未知的字段。" in detail and "x" * 61 not in detail  # not echoed back whole


def test_bundled_form_uses_the_same_checks(city, newborn):
    event = catalog_services.life_event_save(
        acting_user=None,
        code="newborn",
        name="新生儿出生一件事",
        audience="person",
        summary="",
        entries=[catalog_services.LifeEventEntry(implementation_code=newborn.implementation_code)],
        questions={},
    )
    catalog_services.life_event_publish(acting_user=None, life_event=event)
    response = post_form(
        citizen_client(city), "/services/events/newborn/apply/", good(mother_id_number=FATHER)
    )
    assert response.status_code == 200
    assert error_next_to("mother_id_number", ATTACKS[3][3]) in response.content.decode()
    with pytest.raises(CaseError) as err:
        services.case_submit(applicant=city["citizen"], life_event=event, answers=good(birth_weight_kg=1e308))
    assert err.value.problems == {"birth_weight_kg": "“出生体重（千克）”请填写 0.5–8 之间的数字。"}
    assert not Case.objects.exists()


def test_correction_uses_the_same_checks(city, newborn):
    case = services.case_submit(applicant=city["citizen"], item=newborn, answers=good())
    Case.objects.filter(pk=case.pk).update(status=CaseStatus.CORRECTION)
    with pytest.raises(CaseError) as err:
        services.case_correct(applicant=city["citizen"], case=case, answers={"mother_name": "李\u202e梅"})
    assert err.value.problems == {"mother_name": "“母亲姓名”含有不允许的控制字符 U+202E，请删除后重新填写。"}
    case.refresh_from_db()
    assert case.answers["mother_name"] == "李梅"
