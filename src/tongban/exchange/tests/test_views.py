"""The pages: catalogue search, a request filed by the consumer's data officer and answered by the
provider's, refusal needs reasons, grants revoked from the page, the data bureau's hold-back, the audit
page, and the citizen's data tracker."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from tongban.core.cache import clear_all
from tongban.exchange import services
from tongban.exchange.models import Grant, RequestStatus, ShareRequest, ShareType
from tongban.identity.constants import StaffRoleName
from tongban.identity.tests.factories import DepartmentFactory, PersonFactory, StaffFactory, UserFactory
from tongban.registries import loader
from tongban.registries.models import Registry, RegistryKind
from tongban.testing import login_staff, token
from tongban.testing import resident_number as number

from .conftest import FIELDS

pytestmark = pytest.mark.django_db


@pytest.fixture
def city(settings, calendar):
    clear_all()
    operator = DepartmentFactory(code=settings.TONGBAN_EXCHANGE_OPERATOR, name="临江市数据局")
    police = DepartmentFactory(code="ljs-gaj", name="临江市公安局")
    health = DepartmentFactory(code="ljs-wjw", name="临江市卫生健康委员会")
    registry = Registry.objects.create(
        code="population", name="人口库", kind=RegistryKind.POPULATION, owner=police, key_field="id_number"
    )
    person = PersonFactory(id_number=number(1), name="居民1")
    loader.load(registry, [{"id_number": number(1), "name": "居民1", "area_code": "339902"}], source="seed")
    resource = services.resource_create(
        acting_user=None,
        registry=registry,
        code="person-basic",
        name="人口基本信息",
        share_type=ShareType.CONDITIONAL,
        fields=FIELDS,
        legal_basis="《居民身份证法》",
        theme="社会保障",
    )

    officers = {}

    def officer(department, name=None):
        user = StaffFactory(
            roles=[(department, StaffRoleName.DATA_OFFICER)], totp=True, phone=f"1380000{len(officers):04d}"
        )
        officers[name or department.code] = user
        client = Client()
        login_staff(client, user)
        return client

    return {
        "operator": operator,
        "police": police,
        "health": health,
        "resource": resource,
        "person": person,
        "police_officer": officer(police, "police"),
        "health_officer": officer(health, "health"),
        "bureau": officer(operator, "bureau"),
        "officers": officers,
    }


def test_catalogue_search_and_filters(city):
    page = city["health_officer"].get("/staff/exchange/", {"q": "人口"})
    assert page.status_code == 200 and "人口基本信息" in page.content.decode()
    assert (
        "人口基本信息"
        not in city["health_officer"].get("/staff/exchange/", {"department": "nope"}).content.decode()
    )
    assert (
        "人口基本信息"
        in city["health_officer"].get("/staff/exchange/", {"theme": "社会保障"}).content.decode()
    )
    assert Client().get("/staff/exchange/").status_code == 302  # staff only


def test_request_approve_revoke_through_the_pages(city):
    url = "/staff/exchange/resources/person-basic/"
    assert "申请共享" in city["health_officer"].get(url).content.decode()
    missing = city["health_officer"].post(
        url, {"consumer": city["health"].pk, "purpose": "出生登记", "fields": ["name"]}
    )
    assert missing.status_code == 200 and "请写明依据" in missing.content.decode()
    filed = city["health_officer"].post(
        url,
        {
            "consumer": city["health"].pk,
            "purpose": "出生登记",
            "legal_basis": "《母婴保健法》",
            "fields": ["name", "phone"],
        },
    )
    share_request = ShareRequest.objects.get()
    assert filed.status_code == 302 and share_request.due_on > timezone.localdate()
    detail = f"/staff/exchange/requests/{share_request.number}/"
    # The consumer cannot answer its own request; the provider refuses only with reasons.
    city["health_officer"].post(detail, {"action": "approve"})
    assert ShareRequest.objects.get().status == RequestStatus.PENDING
    city["police_officer"].post(detail, {"action": "refuse", "reason": ""})
    assert ShareRequest.objects.get().status == RequestStatus.PENDING
    assert share_request.number in city["police_officer"].get("/staff/exchange/requests/").content.decode()
    city["police_officer"].post(detail, {"action": "approve", "fields": ["name"]})
    grant = Grant.objects.get()
    assert grant.fields == ["name"] and ShareRequest.objects.get().status == RequestStatus.APPROVED
    assert "临江市卫生健康委员会" in city["health_officer"].get("/staff/exchange/grants/").content.decode()
    # The consumer may not revoke; the provider may, with a reason.
    city["health_officer"].post(f"/staff/exchange/grants/{grant.pk}/", {"action": "revoke", "reason": "x"})
    assert Grant.objects.get().revoked_at is None
    city["police_officer"].post(
        f"/staff/exchange/grants/{grant.pk}/", {"action": "revoke", "reason": "不再需要"}
    )
    assert Grant.objects.get().revoked_at is not None


def _birth_registration_request(city):
    """The health commission asks the police for residents' names (filed by its system, not a page)."""
    return services.share_request_submit(
        acting_user=None,
        resource=city["resource"],
        consumer=city["health"],
        purpose="出生登记",
        legal_basis="《母婴保健法》",
        fields=["name"],
    )


def test_overdue_requests_escalate_to_the_data_bureau(city, django_capture_on_commit_callbacks):
    share_request = _birth_registration_request(city)
    from tongban.core import notify

    sent = len(notify.outbox)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.request_deadlines(today=share_request.due_on) == (1, 0)  # reminded on the last day
    reminder = notify.outbox[sent:]
    assert [m["to"] for m in reminder] == [city["officers"]["police"].phone]
    assert share_request.number in reminder[0]["text"] and "到期" in reminder[0]["text"]
    with django_capture_on_commit_callbacks(execute=True):
        assert services.request_deadlines(today=share_request.due_on + dt.timedelta(days=1)) == (0, 1)
    escalation = notify.outbox[sent + 1 :]
    assert sorted(m["to"] for m in escalation) == sorted(
        [city["officers"]["police"].phone, city["officers"]["bureau"].phone]
    )
    assert all("超过答复期限" in m["text"] for m in escalation)
    assert services.request_deadlines(today=share_request.due_on + dt.timedelta(days=2)) == (0, 0)
    assert share_request.number in city["bureau"].get("/staff/exchange/requests/").content.decode()


def test_a_reminder_waits_out_an_sms_gateway_outage(city, sms_outage, django_capture_on_commit_callbacks):
    from tongban.core import notify
    from tongban.core.models import OutboxMessage

    share_request = _birth_registration_request(city)
    sms_outage.down()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.request_deadlines(today=share_request.due_on) == (1, 0)
    waiting = OutboxMessage.objects.get(recipient=city["officers"]["police"].phone)
    assert waiting.sent_at is None and waiting.attempts == 1
    assert services.request_deadlines(today=share_request.due_on) == (0, 0)  # marked: not reminded twice

    sms_outage.up()
    OutboxMessage.objects.update(next_attempt_at=timezone.now())
    assert notify.send_outbox() >= 1
    assert [m["text"] for m in notify.outbox if m["to"] == waiting.recipient][-1] == waiting.text


def test_hold_back_only_by_the_data_bureau_and_the_citizen_tracker(city):
    share_request = _birth_registration_request(city)
    grant = services.share_request_answer(acting_user=None, share_request=share_request, approve=True).grant
    headers = token(city["health"], "exchange.read")
    assert (
        Client().get(f"/api/exchange/gateway/person-basic/records/{number(1)}", **headers).status_code == 200
    )
    citizen = UserFactory(person=city["person"])
    mine = Client()
    mine.force_login(citizen)
    page = mine.get("/my/data-usage/").content.decode()
    assert "临江市卫生健康委员会" in page and "出生登记" in page

    later = (timezone.localdate() + dt.timedelta(days=60)).isoformat()
    city["police_officer"].post(
        f"/staff/exchange/grants/{grant.pk}/", {"action": "hold", "hold_until": later, "reason": "侦查"}
    )
    assert Grant.objects.get().hold_until is None  # the provider cannot
    city["bureau"].post(
        f"/staff/exchange/grants/{grant.pk}/", {"action": "hold", "hold_until": later, "reason": "侦查"}
    )
    assert Grant.objects.get().hold_until.isoformat() == later
    assert "出生登记" not in mine.get("/my/data-usage/").content.decode()


def test_a_self_declared_account_does_not_see_whose_data_was_read(city):
    """Issue 15 #3: an account opened with someone's name and ID number (self-declared, unproven) saw
    their data-usage record; it is shown only once the account's claim to the ID number is verified."""
    from tongban.identity.constants import RealNameLevel

    share_request = _birth_registration_request(city)
    services.share_request_answer(acting_user=None, share_request=share_request, approve=True)
    headers = token(city["health"], "exchange.read")
    assert (
        Client().get(f"/api/exchange/gateway/person-basic/records/{number(1)}", **headers).status_code == 200
    )
    person = city["person"]
    person.real_name_level = RealNameLevel.SELF_DECLARED
    person.save(update_fields=["real_name_level"])
    stranger = Client()
    stranger.force_login(UserFactory(person=person))
    page = stranger.get("/my/data-usage/").content.decode()
    assert "临江市卫生健康委员会" not in page and "出生登记" not in page
    assert "您的账号实名等级为“自行填报”" in page
    person.real_name_level = RealNameLevel.REGISTRY_VERIFIED
    person.save(update_fields=["real_name_level"])
    assert "出生登记" in stranger.get("/my/data-usage/").content.decode()


def test_audit_page_and_staff_registry_reads_are_logged(city):
    from tongban.exchange.models import LogEntry

    before = LogEntry.objects.count()
    city["police_officer"].get("/staff/registries/population/", {"key": number(1)})
    entry = LogEntry.objects.order_by("pk").last()
    assert (
        LogEntry.objects.count() == before + 1 and entry.kind == "staff_read" and number(1) not in entry.leaf
    )
    assert "共享审计日志" in city["bureau"].get("/staff/exchange/audit/").content.decode()
