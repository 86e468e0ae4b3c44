"""Data sharing in a real browser (Debian Chromium via Playwright):
- a consumer's data officer requests a resource and the provider's approves it;
- the consumer's system reads through the gateway;
- a district's data officer subscribes its system and the return flow brings only the district's residents;
- the citizen sees both on the data tracker."""

import datetime as dt
import json

import pytest
import requests

from tongban.core import codes
from tongban.core.cache import clear_all
from tongban.core.services import calendar_seed_official, calendar_year_provisional
from tongban.exchange import services
from tongban.exchange.models import ShareType
from tongban.identity.constants import StaffRoleName
from tongban.identity.models import AreaLevel
from tongban.identity.services import system_client_create
from tongban.identity.tests.factories import (
    PASSWORD,
    AreaFactory,
    DepartmentFactory,
    PersonFactory,
    StaffFactory,
    UserFactory,
)
from tongban.registries import loader
from tongban.registries.models import Registry, RegistryKind
from tongban.testing import new_page, staff_login

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.live]


def token(base, client, secret):
    response = requests.post(
        f"{base}/o/token/",
        data={
            "grant_type": "client_credentials",
            "client_id": client.application.client_id,
            "client_secret": secret,
            "scope": "exchange.read",
        },
        timeout=10,
    )
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_request_approve_read_subscribe_and_the_tracker(live_server, browser, settings, log_emptied_after):
    base = live_server.url
    clear_all()
    years = calendar_seed_official()
    calendar_year_provisional(acting_user=None, year=max(years) + 1)
    city_area = AreaFactory(code="339900", name="临江市", level=AreaLevel.CITY)
    jc = AreaFactory(code="339902", name="江城区", parent=city_area)
    DepartmentFactory(code=settings.TONGBAN_EXCHANGE_OPERATOR, name="临江市数据局", area=city_area)
    police = DepartmentFactory(code="ljs-gaj", name="临江市公安局", short_name="市公安局", area=city_area)
    health = DepartmentFactory(
        code="ljs-wjw", name="临江市卫生健康委员会", short_name="市卫健委", area=city_area
    )
    jc_health = DepartmentFactory(code="jc-wjw", name="江城区卫健局", area=jc, level="county", parent=health)
    born = dt.date(1990, 3, 8)
    resident = PersonFactory(id_number=codes.make_resident_id("339902", born, 21), name="林晓雯")
    neighbour = codes.make_resident_id("339903", born, 23)
    registry = Registry.objects.create(
        code="population", name="人口库", kind=RegistryKind.POPULATION, owner=police, key_field="id_number"
    )
    loader.load(
        registry,
        [
            {
                "id_number": resident.id_number,
                "name": "林晓雯",
                "phone": "13900001234",
                "area_code": "339902",
            },
            {"id_number": neighbour, "name": "周明", "phone": "13900005678", "area_code": "339903"},
        ],
        source="户籍系统",
    )
    common = {"acting_user": None, "registry": registry, "area_field": "area_code", "via_bulk": True}
    services.resource_create(
        code="person-contact",
        name="人口联系信息",
        share_type=ShareType.CONDITIONAL,
        fields=[("id_number", "公民身份号码", 3), ("name", "姓名", 2), ("phone", "联系电话", 4)],
        legal_basis="《个人信息保护法》第三十四条",
        **common,
    )
    services.resource_create(
        code="person-basic",
        name="人口基本信息",
        share_type=ShareType.UNCONDITIONAL,
        fields=[("id_number", "公民身份号码", 3), ("name", "姓名", 2), ("area_code", "户籍地", 1)],
        **common,
    )
    officers = {
        d.code: StaffFactory(totp=True, roles=[(d, StaffRoleName.DATA_OFFICER)])
        for d in (police, health, jc_health)
    }
    health_system, health_secret = system_client_create(
        acting_user=None, department=health, name="出生医学证明系统", scopes=["exchange.read"]
    )
    jc_system, jc_secret = system_client_create(
        acting_user=None, department=jc_health, name="江城区基层卫生系统", scopes=["exchange.read"]
    )
    citizen = UserFactory(person=resident)

    # 市卫健委 asks for the contact data.
    consumer = staff_login(browser, base, officers["ljs-wjw"])
    consumer.goto(f"{base}/staff/exchange/resources/person-contact/")
    consumer.get_by_label("用途").first.fill("新生儿访视联系")
    consumer.get_by_label("依据（法律法规或职责文件）").fill("《母婴保健法》第二十四条")
    consumer.get_by_label("姓名").first.check()
    consumer.get_by_label("联系电话").first.check()
    consumer.locator("main button[type=submit]").first.click()
    assert consumer.get_by_text("待答复").first.is_visible()
    number = consumer.url.rstrip("/").rsplit("/", 1)[-1]

    # 市公安局 approves it.
    provider = staff_login(browser, base, officers["ljs-gaj"])
    provider.goto(f"{base}/staff/exchange/requests/{number}/")
    provider.get_by_role("button", name="同意", exact=True).click()
    assert provider.get_by_text("已同意").first.is_visible()

    # The consumer's system reads the resident through the gateway: phone masked, receipt given.
    read = requests.get(
        f"{base}/api/exchange/gateway/person-contact/records/{resident.id_number}",
        params={"purpose": "新生儿访视联系"},
        headers=token(base, health_system, health_secret),
        timeout=10,
    )
    assert read.status_code == 200, read.text
    assert read.json()["records"] == [{"name": "林晓雯", "phone": "********"}]
    assert read.json()["receipt"]["log_index"] >= 0

    # 江城区卫健局 subscribes its system; the return flow holds only 江城区's resident.
    district = staff_login(browser, base, officers["jc-wjw"])
    district.goto(f"{base}/staff/exchange/resources/person-basic/")
    district.get_by_label("用途").fill("家庭医生签约居民名单")
    district.get_by_role("button", name="建立订阅").click()
    assert district.get_by_text("回流至 339902").is_visible()
    subscription = requests.get(
        f"{base}/api/exchange/subscriptions", headers=token(base, jc_system, jc_secret), timeout=10
    ).json()[0]
    feed = requests.get(
        f"{base}{subscription['feed']}",
        params={"after": 0},
        headers=token(base, jc_system, jc_secret),
        timeout=10,
    )
    assert feed.status_code == 200 and feed.headers["Tongban-Phase"] == "snapshot"
    # Only 江城区's resident, masked as a whole, under a per-subscription pseudonym: no full ID number.
    assert "林晓雯" in feed.text and "周明" not in feed.text
    assert resident.id_number not in feed.text and neighbour not in feed.text
    line = json.loads(feed.text.splitlines()[0])
    assert line["data"]["id_number"] == resident.id_number[:4] + "*" * 10 + resident.id_number[-4:]
    assert len(line["key"]) == 64 and line["data"]["area_code"] == "3399**"

    # The citizen sees who read the data, and who receives it in bulk.
    mine = new_page(browser)
    mine.goto(base + "/login/")
    mine.get_by_label("公民身份号码或手机号码").fill(citizen.username)
    mine.get_by_label("密码").fill(PASSWORD)
    mine.get_by_role("button", name="登录").click()
    mine.goto(base + "/my/data-usage/")
    assert mine.get_by_text("新生儿访视联系").is_visible()
    assert mine.get_by_text("家庭医生签约居民名单").is_visible()
