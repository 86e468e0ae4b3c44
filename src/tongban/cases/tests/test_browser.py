"""The main journey in a real browser (Debian Chromium via Playwright): a bundle applied for once, two
departments in parallel, a correction, the case closed, the public lookup."""

import pytest

from tongban.cases.models import Case
from tongban.catalog import services as catalog_services
from tongban.catalog.demo_fields import FIELDS, PERSON, instant
from tongban.identity.tests.factories import PASSWORD, ROLE, StaffFactory
from tongban.testing import new_page, staff_login

from .conftest import publish

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.live]


def act(page, base, number, button, reason="", items=""):
    page.goto(f"{base}/staff/cases/{number}/")
    if reason:
        page.get_by_label("意见或理由").first.fill(reason)
    if items:
        page.get_by_label("需要补正的内容（每行一项，一次性告知）").fill(items)
    page.get_by_role("button", name=button, exact=True).first.click()
    assert page.get_by_text("已办理").is_visible()


def test_bundle_journey(city, live_server, browser, tmp_path):
    base = live_server.url
    market, health = city["market"], city["health"]
    shop = publish(
        market,
        "010002000000",
        name="小餐饮登记",
        workflow=instant(),
        materials=[{"code": "layout", "name": "经营场所平面布局图", "formats": ["pdf"], "max_size_mb": 2}],
        form_schema={
            "type": "object",
            "required": ["shop_name"],
            "properties": {**{k: FIELDS[k] for k in PERSON}, "shop_name": FIELDS["shop_name"]},
        },
    )
    card = publish(
        health,
        "200000300000",
        name="健康证明办理",
        workflow=instant(),
        form_schema={
            "type": "object",
            "required": ["shop_name"],
            "properties": {**{k: FIELDS[k] for k in PERSON}, "shop_name": FIELDS["shop_name"]},
        },
    )
    event = catalog_services.life_event_save(
        acting_user=None,
        code="open-snack",
        name="开小吃店一件事",
        audience="person",
        summary="",
        entries=[
            catalog_services.LifeEventEntry(implementation_code=shop.implementation_code),
            catalog_services.LifeEventEntry(implementation_code=card.implementation_code),
        ],
    )
    catalog_services.life_event_publish(acting_user=None, life_event=event)
    staff = {
        (d.code, r): StaffFactory(totp=True, roles=[(d, r)])
        for d in (market, health)
        for r in (ROLE.INTAKE_CLERK, ROLE.APPROVER)
    }
    plan = tmp_path / "平面图.pdf"
    plan.write_bytes(b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")

    # The citizen applies once, for both departments.
    citizen = new_page(browser)
    citizen.goto(base + "/login/")
    citizen.get_by_label("公民身份号码或手机号码").fill(city["citizen"].username)
    citizen.get_by_label("密码").fill(PASSWORD)
    citizen.get_by_role("button", name="登录").click()
    citizen.goto(base + "/services/events/open-snack/")
    citizen.get_by_role("link", name="一次申请").click()
    assert citizen.get_by_label("申请人姓名").input_value() == city["citizen"].person.name  # prefilled
    citizen.get_by_label("店铺名称").fill("临江小吃")
    citizen.get_by_role("button", name="下一步：核对信息").click()
    assert citizen.get_by_text("还缺少 1 份材料").is_visible()  # the floor plan for the market bureau
    assert citizen.get_by_label("店铺名称").input_value() == "临江小吃"  # nothing typed is lost
    citizen.get_by_label("经营场所平面布局图").set_input_files(str(plan))
    citizen.get_by_role("button", name="保存草稿").click()  # leave, come back later: all still there
    assert citizen.get_by_text("草稿已保存").is_visible()
    assert citizen.get_by_label("店铺名称").input_value() == "临江小吃"
    assert citizen.get_by_text("已上传：平面图.pdf").is_visible()
    citizen.get_by_role("button", name="下一步：核对信息").click()
    assert citizen.get_by_role("heading", name="核对申请：开小吃店一件事").is_visible()
    assert citizen.get_by_text("临江小吃").is_visible() and citizen.get_by_text("平面图.pdf").is_visible()
    citizen.get_by_role("button", name="确认并提交").click()
    assert citizen.get_by_text("申请已提交").is_visible()
    bundle = Case.objects.get(parent__isnull=True)
    subs = {c.department_id: c for c in bundle.sub_cases.all()}

    # Both departments work at the same time; the market bureau asks for a correction.
    market_clerk = staff_login(browser, base, staff[(market.code, ROLE.INTAKE_CLERK)])
    health_clerk = staff_login(browser, base, staff[(health.code, ROLE.INTAKE_CLERK)])
    health_clerk.goto(base + "/staff/cases/?queue=accept")
    assert health_clerk.get_by_role("link", name="健康证明办理").is_visible()
    act(health_clerk, base, subs[health.pk].number, "受理")
    act(
        market_clerk,
        base,
        subs[market.pk].number,
        "一次性告知补正",
        reason="平面图不清晰",
        items="清晰的经营场所平面布局图",
    )
    health_approver = staff_login(browser, base, staff[(health.code, ROLE.APPROVER)])
    act(health_approver, base, subs[health.pk].number, "准予")
    act(health_clerk, base, subs[health.pk].number, "办结")

    # The citizen sees one case with one timeline, and corrects.
    citizen.goto(f"{base}/my/cases/{bundle.number}/")
    assert citizen.get_by_text("清晰的经营场所平面布局图", exact=True).is_visible()
    citizen.get_by_label("补交材料（如需要）").set_input_files(str(plan))
    citizen.get_by_role("button", name="提交补正").click()
    assert citizen.get_by_text("已提交补正").is_visible()

    act(market_clerk, base, subs[market.pk].number, "受理")
    market_approver = staff_login(browser, base, staff[(market.code, ROLE.APPROVER)])
    act(market_approver, base, subs[market.pk].number, "准予")
    act(market_clerk, base, subs[market.pk].number, "办结")

    citizen.goto(f"{base}/my/cases/{bundle.number}/")
    assert citizen.get_by_text("已办结").first.is_visible()
    bundle.refresh_from_db()
    assert bundle.status == "closed" and bundle.outcome == "approved"

    # Anyone with the number and query code can follow it, without personal data.
    public = new_page(browser)
    public.goto(f"{base}/track/?number={bundle.number}&code={bundle.query_code}")
    assert public.get_by_text("全部事项已办结（2/2 项准予）").is_visible()
    assert city["citizen"].person.name not in public.content()
    public.screenshot(path="var/screenshots/track.png", full_page=True)


def test_licence_journey(city, live_server, browser, tmp_path):
    """A case approved in the browser issues a licence; the holder downloads it from the wallet; anyone
    verifies it on the public page, and a changed copy is caught."""
    import json

    from tongban.licences.constants import HolderCodeType
    from tongban.licences.models import LicenceType

    base = live_server.url
    health = city["health"]
    LicenceType.objects.create(
        code="110000000000000000003",
        name="出生医学证明",
        issuer=health,
        holder_code_type=HolderCodeType.ID_NUMBER,
        face_schema={
            "type": "object",
            "properties": {"baby_name": {"type": "string", "title": "新生儿姓名"}},
        },
        display_fields=["baby_name"],
    )
    item = publish(
        health,
        "070000100008",
        name="出生医学证明签发（电子证照）",
        workflow=instant(),
        result_licence_type="110000000000000000003",
        form_schema={
            "type": "object",
            "required": ["baby_name"],
            "properties": {**{k: FIELDS[k] for k in PERSON}, "baby_name": FIELDS["baby_name"]},
        },
    )
    citizen = new_page(browser)
    citizen.goto(base + "/login/")
    citizen.get_by_label("公民身份号码或手机号码").fill(city["citizen"].username)
    citizen.get_by_label("密码").fill(PASSWORD)
    citizen.get_by_role("button", name="登录").click()
    citizen.goto(f"{base}/services/items/{item.implementation_code}/apply/")
    citizen.get_by_label("新生儿姓名").fill("林小满")
    citizen.get_by_role("button", name="下一步：核对信息").click()
    citizen.get_by_role("button", name="确认并提交").click()
    assert citizen.get_by_text("申请已提交").is_visible()
    case = Case.objects.get(item_version__item=item)

    clerk = staff_login(browser, base, city["staff"][(health.code, ROLE.INTAKE_CLERK)])
    approver = staff_login(browser, base, city["staff"][(health.code, ROLE.APPROVER)])
    act(clerk, base, case.number, "受理")
    act(approver, base, case.number, "准予")
    act(clerk, base, case.number, "办结")

    citizen.goto(base + "/my/licences/")
    citizen.get_by_role("link", name="出生医学证明").click()
    assert citizen.get_by_text("林小满").is_visible()
    with citizen.expect_download() as download:
        citizen.get_by_role("link", name="下载签章文件").click()
    path = tmp_path / "licence.json"
    download.value.save_as(str(path))

    public = new_page(browser)
    public.goto(base + "/licences/verify/")
    public.get_by_label("证照文件").set_input_files(str(path))
    public.get_by_role("button", name="核验").click()
    assert public.get_by_text("签章有效，证照状态正常").is_visible()
    assert city["citizen"].person.id_number not in public.content()
    forged = json.loads(path.read_text(encoding="utf-8"))
    forged["licence"]["face"]["baby_name"] = "林大满"
    path.write_text(json.dumps(forged, ensure_ascii=False), encoding="utf-8")
    public.goto(base + "/licences/verify/")
    public.get_by_label("证照文件").set_input_files(str(path))
    public.get_by_role("button", name="核验").click()
    assert public.get_by_text("签名与内容不符").is_visible()
