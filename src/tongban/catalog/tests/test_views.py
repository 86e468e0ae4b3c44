"""Public catalogue pages through HTTP: browse, search, guides; bounded queries."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_browse_and_home_show_bundles_and_themes(demo_catalogue):
    body = Client().get("/services/?for=person").content.decode()
    assert "新生儿出生一件事" in body and "生育收养" in body
    assert "企业开办一件事" in Client().get("/services/?for=organisation").content.decode()
    assert "新生儿出生一件事" in Client().get("/").content.decode()


def test_search_page_finds_colloquial_and_pinyin(demo_catalogue):
    body = Client().get("/services/search/", {"q": "生孩子"}).content.decode()
    assert "新生儿出生一件事" in body
    body = Client().get("/services/search/", {"q": "sfz", "for": "person"}).content.decode()
    assert "居民身份证" in body
    body = Client().get("/services/search/", {"q": "'; DROP TABLE x; --"}).content.decode()
    assert "没有找到相关事项" in body


def test_search_page_area_filter(demo_catalogue):
    # 江城区民政局's own 结婚登记 is offered in 江城区 (with the city's), not in 东湖区.
    page = Client().get("/services/search/", {"q": "结婚登记", "area": "339902"}).content.decode()
    jiangcheng = page.split('class="results"')[1]
    donghu = Client().get("/services/search/", {"q": "结婚登记", "area": "339903"}).content.decode()
    donghu = donghu.split('class="results"')[1]
    assert "江城区民政局" in jiangcheng and "市民政局" in jiangcheng
    assert "江城区民政局" not in donghu and "市民政局" in donghu
    assert '<option value="339902" selected>' in page


def test_guide_page(demo_catalogue, django_assert_max_num_queries):
    from tongban.catalog.models import ServiceItem

    item = ServiceItem.objects.get(published_version__name="食品经营许可")
    client = Client()
    with django_assert_max_num_queries(10):
        response = client.get(f"/services/items/{item.implementation_code}/")
    body = response.content.decode()
    assert response.status_code == 200
    for text in [
        "食品经营许可",
        "《中华人民共和国食品安全法》第三十五条",
        "行政许可",
        "免提交",
        "同时办理",
        "市消防支队",
        "自动填写",
        "打印办事指南",
    ]:
        assert text in body, text
    item.refresh_from_db()
    assert item.popularity == 1
    assert client.get("/services/items/nope/").status_code == 404


def test_life_event_guide_has_one_form_and_one_set_of_materials(demo_catalogue):
    body = Client().get("/services/events/newborn/").content.decode()
    assert body.count("父母双方居民身份证") == 1
    assert "如果父母希望为新生儿办理医保" in body
    assert "只需填写一次" in body


def test_suggest_endpoint(demo_catalogue):
    data = Client().get("/services/suggest/", {"q": "jumin"}).json()
    assert any("居民身份证" in s for s in data["suggestions"])
    assert Client().get("/services/suggest/", {"q": "%%%"}).json() == {"suggestions": []}


def test_department_and_theme_lists(demo_catalogue):
    assert "出生医学证明签发" in Client().get("/services/departments/ljs-wjw/").content.decode()
    assert "新生儿出生一件事" in Client().get("/services/themes/birth/").content.decode()
