"""Main journeys in a real browser: Debian's Chromium driven by Playwright, on a phone-sized screen."""

import os
from pathlib import Path

import pytest

from tongban.identity.tests.factories import (
    PASSWORD,
    ROLE,
    DepartmentFactory,
    OrganisationFactory,
    StaffFactory,
    UserFactory,
)
from tongban.testing import current_totp

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.live]
SCREENSHOTS = Path(os.environ.get("TONGBAN_SCREENSHOTS", "var/screenshots"))


@pytest.fixture
def page(browser):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, locale="zh-CN", device_scale_factor=1
    )
    page = context.new_page()
    yield page
    context.close()


def shot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_citizen_logs_in_and_acts_for_their_enterprise(live_server, page):
    user = UserFactory()
    org = OrganisationFactory(legal_representative=user.person, name="临江味道餐饮管理有限公司")
    page.goto(live_server.url + "/")
    page.get_by_role("link", name="登录").first.click()
    page.get_by_label("公民身份号码或手机号码").fill(user.username)
    page.get_by_label("密码").fill("wrong-password-1")
    page.get_by_role("button", name="登录").click()
    assert page.get_by_text("账号或密码不正确").is_visible()
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/account/")
    assert page.get_by_text(user.person.masked_id_number).is_visible()
    page.get_by_label("以哪个身份办事").select_option(label=org.name)
    page.get_by_role("button", name="切换身份").click()
    assert page.get_by_text(f"当前身份：代表 {org.name} 办事").is_visible()
    shot(page, "citizen-account")
    page.get_by_role("button", name="退出").click()
    assert page.get_by_text("您已安全退出").is_visible()


def test_staff_logs_in_with_second_factor_and_manages_roles(live_server, page):
    dept = DepartmentFactory(name="临江市市场监督管理局")
    admin = StaffFactory(totp=True, roles=[(dept, ROLE.DEPARTMENT_ADMIN)], display_name="管理员王")
    clerk = StaffFactory(totp=True)
    page.goto(live_server.url + "/staff/login/")
    page.get_by_label("工作人员登录名").fill(admin.username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_label("动态口令（6位数字）").fill(current_totp(admin))
    page.get_by_role("button", name="登录工作台").click()
    page.wait_for_url("**/staff/")
    assert page.get_by_role("heading", name="管理员王的工作台").is_visible()
    page.get_by_role("link", name=dept.name).click()
    page.get_by_label("工作人员登录名").fill(clerk.username)
    page.get_by_label("角色").select_option(label="审查人员")
    page.get_by_role("button", name="授予").click()
    assert page.get_by_text("已授予角色").is_visible()
    assert page.get_by_role("cell", name=clerk.display_name).is_visible()
    shot(page, "staff-roles")


def test_english_version_of_the_login_page(live_server, page):
    page.goto(live_server.url + "/login/")
    page.get_by_role("button", name="English").click()
    assert page.get_by_role("heading", name="Log in (citizens and organisations)").is_visible()
    shot(page, "login-en")


def test_search_colloquially_and_open_a_guide(live_server, page):
    from tongban.catalog.demo import catalogue
    from tongban.catalog.transfer import import_catalogue
    from tongban.identity.demo import build_demo_city

    build_demo_city()
    import_catalogue(catalogue())
    page.goto(live_server.url + "/")
    box = page.get_by_label("搜索办事事项")
    box.fill("开饭店")
    page.get_by_role("button", name="搜索").click()
    assert page.get_by_role("link", name="开办餐饮店一件事").is_visible()
    page.get_by_role("link", name="食品经营许可").first.click()
    assert page.get_by_role("heading", name="食品经营许可").is_visible()
    assert page.get_by_text("《中华人民共和国食品安全法》第三十五条").is_visible()
    assert page.get_by_text("同时办理").first.is_visible()  # parallel review with the fire brigade
    shot(page, "guide")
    page.goto(live_server.url + "/services/")
    page.get_by_label("搜索办事事项").fill("sfz")
    page.get_by_role("button", name="搜索").click()
    assert page.get_by_role("link", name="居民身份证补领").is_visible()
