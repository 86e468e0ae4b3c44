"""Issue 15 (low): another department's catalogue drafts are neither readable at their edit page nor in
the export; only the owning department (and the platform) sees them."""

import json

import pytest

from tongban.catalog import services
from tongban.catalog.tests.factories import content, published_item
from tongban.core.models import AuditEvent
from tongban.identity.tests.factories import ROLE, DepartmentFactory, StaffFactory
from tongban.testing import staff_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_departments():
    ours = DepartmentFactory(code="ljs-wjw", name="临江市卫生健康委员会")
    theirs = DepartmentFactory(code="ljs-mzj", name="临江市民政局")
    draft = services.item_create(
        acting_user=None,
        department=theirs,
        basic_code="010009900000",
        content=content(name="民政局未发布的草稿", legal_basis="内部草案第九条"),
    )
    published = published_item(theirs, name="民政局已发布的事项")
    own = published_item(ours, name="卫健委自己的事项")
    return ours, theirs, draft, published, own


def test_another_departments_draft_is_not_readable(two_departments):
    ours, _theirs, draft, _published, own = two_departments
    editor = StaffFactory(totp=True, roles=[(ours, ROLE.DEPARTMENT_ADMIN)])
    client = staff_client(editor)
    response = client.get(f"/staff/catalogue/versions/{draft.pk}/edit/")
    body = response.content.decode()
    assert response.status_code == 403
    assert "您在“临江市民政局”没有执行此操作的权限。" in body and "无权访问" in body
    assert "民政局未发布的草稿" not in body and "内部草案第九条" not in body
    saved = client.post(f"/staff/catalogue/versions/{draft.pk}/edit/", {"name": "改掉"})
    assert saved.status_code == 403
    assert AuditEvent.objects.filter(
        event_type="permission_denied", actor=editor, extra_data__action="version_view"
    ).exists()
    assert client.get(f"/staff/catalogue/items/{draft.item_id}/").status_code == 403
    # The department's own drafts and the platform still open.
    assert client.get(f"/staff/catalogue/versions/{own.pk}/edit/").status_code == 200
    platform = staff_client(StaffFactory(totp=True, roles=[(ours, ROLE.PLATFORM_ADMIN)]))
    assert platform.get(f"/staff/catalogue/versions/{draft.pk}/edit/").status_code == 200


def test_the_export_holds_only_the_departments_own_items(two_departments):
    ours, _theirs, _draft, _published, _own = two_departments
    editor = StaffFactory(totp=True, roles=[(ours, ROLE.DEPARTMENT_ADMIN)])
    response = staff_client(editor).get("/staff/catalogue/export.json")
    assert response.status_code == 200
    data = json.loads(response.content)
    assert [i["version"]["name"] for i in data["items"]] == ["卫健委自己的事项"]
    assert data["life_events"] == [] and "民政局" not in response.content.decode()
    platform = staff_client(StaffFactory(totp=True, roles=[(ours, ROLE.PLATFORM_ADMIN)]))
    names = {
        i["version"]["name"]
        for i in json.loads(platform.get("/staff/catalogue/export.json").content)["items"]
    }
    assert names == {"民政局未发布的草稿", "民政局已发布的事项", "卫健委自己的事项"}
