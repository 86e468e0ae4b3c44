"""The request body cap (RequestSizeLimitMiddleware, TONGBAN_MAX_UPLOAD_MB): a body over it is refused
from its Content-Length with 413 and a Chinese message, before anything reads it."""

import io

import pytest
from django.conf import settings
from django.test import Client

from tongban.catalog.constants import MAX_MATERIAL_MB
from tongban.catalog.validation import check_materials
from tongban.identity.tests.factories import UserFactory

pytestmark = pytest.mark.django_db
MB = 1024 * 1024


class Unread(io.RawIOBase):
    """A request body that must not be read: the test fails if anything touches it."""

    def read(self, *args, **kwargs):
        raise AssertionError("the body was read")

    readline = read


def post(client, path, length, content_type="multipart/form-data; boundary=x"):
    return client.generic(
        "POST", path, b"", content_type=content_type, CONTENT_LENGTH=str(length), **{"wsgi.input": Unread()}
    )


def test_the_defaults_fit_the_largest_material():
    assert settings.TONGBAN_MAX_UPLOAD_MB == 52 and MAX_MATERIAL_MB == 50
    assert MAX_MATERIAL_MB * MB < settings.TONGBAN_MAX_UPLOAD_MB * MB
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE <= settings.TONGBAN_MAX_UPLOAD_MB * MB
    problems = check_materials([{"code": "a", "name": "平面图", "max_size_mb": MAX_MATERIAL_MB + 1}], set())
    assert [p.message for p in problems] == ["大小上限应为1至50MB。"]


def test_a_60_mb_upload_is_refused_before_it_is_read():
    client = Client()
    client.force_login(UserFactory())
    response = post(client, "/services/items/113399020000000000010000100000/apply/", 60 * MB)
    body = response.content.decode()
    assert response.status_code == 413
    assert (
        "提交的内容超过 52MB 上限，未被接收。请压缩文件或分次上传后重试。" in body
        and "无法接收提交的内容" in body
    )
    assert response["Content-Security-Policy"]


def test_the_api_answers_json():
    response = post(Client(), "/api/registration/documents", 60 * MB)
    assert response.status_code == 413
    assert response.json() == {
        "code": "too_large",
        "message": "提交的内容超过 52MB 上限，未被接收。请压缩文件或分次上传后重试。",
    }
    assert post(Client(), "/o/token/", 60 * MB, "application/x-www-form-urlencoded").status_code == 413


def test_a_bad_content_length_is_refused():
    response = post(Client(), "/api/registration/documents", "-1")
    assert response.status_code == 400 and response.json()["code"] == "bad_request"


def test_at_the_cap_the_request_goes_on(settings):
    settings.TONGBAN_MAX_UPLOAD_MB = 1
    client = Client()
    data = {"file": io.BytesIO(b"x" * (MB + 1))}
    assert client.post("/api/registration/documents", data).status_code == 413
    # Under the cap, the request reaches the API (which asks for a client's token).
    assert Client().post("/api/registration/documents", {"file": io.BytesIO(b"x" * 1000)}).status_code == 401


def test_the_registry_load_page_takes_more_but_only_when_signed_in(rf):
    """Staff bulk loads take up to 200 MB files (allow_large_body); anyone else meets the default cap."""
    from django.contrib.auth.models import AnonymousUser

    from tongban.core.middleware import RequestSizeLimitMiddleware
    from tongban.identity.tests.factories import ROLE, DepartmentFactory, StaffFactory
    from tongban.registries.views import load_page

    assert post(Client(), "/staff/registries/load/", 60 * MB).status_code == 413  # anonymous
    middleware = RequestSizeLimitMiddleware(lambda request: None)
    staff = StaffFactory(roles=[(DepartmentFactory(), ROLE.DATA_OFFICER)], totp=True)

    def outcome(user, length):
        request = rf.post("/staff/registries/load/", CONTENT_LENGTH=str(length))
        request.user = user
        return middleware.process_view(request, load_page, (), {})

    assert outcome(staff, 200 * MB) is None
    assert outcome(staff, 206 * MB).status_code == 413
    assert outcome(AnonymousUser(), 60 * MB).status_code == 413
