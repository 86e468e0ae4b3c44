"""A small city for case tests: a food-licence item with parallel review in the fire brigade, staff in
every role, a citizen and an enterprise, and the official working-day calendar."""

import pytest
from django.db import transaction

from tongban.cases import services
from tongban.cases.models import CaseTask
from tongban.catalog import services as catalog_services
from tongban.catalog.demo_fields import FIELDS, PERSON, parallel, simple
from tongban.catalog.tests.factories import content
from tongban.core.services import calendar_seed_official, calendar_year_provisional
from tongban.identity.tests.factories import (
    ROLE,
    DepartmentFactory,
    OrganisationFactory,
    StaffFactory,
    UserFactory,
)

FOOD_MATERIALS = [
    {"code": "layout", "name": "经营场所平面布局图", "formats": ["pdf", "png"], "max_size_mb": 1},
    {"code": "licence", "name": "营业执照", "licence_type_code": "110000000000000000001", "formats": ["pdf"]},
]


def publish(department, basic_code, materials=(), **fields):
    c = content(**fields)
    c.materials = list(materials)
    version = catalog_services.item_create(
        acting_user=None, department=department, basic_code=basic_code, content=c
    )
    with transaction.atomic():
        catalog_services.publish_in_transaction(acting_user=None, version=version, require_review=False)
    version.item.refresh_from_db()
    return version.item


@pytest.fixture
def city(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        years = calendar_seed_official()
        calendar_year_provisional(acting_user=None, year=max(years) + 1)
    market = DepartmentFactory(code="ljs-scjgj", name="临江市市场监督管理局", short_name="市市场监管局")
    fire = DepartmentFactory(code="ljs-xfzd", name="临江市消防救援支队", short_name="市消防支队")
    health = DepartmentFactory(code="ljs-wjw", name="临江市卫生健康委员会", short_name="市卫健委")
    form = {
        "type": "object",
        "required": [*PERSON, "shop_name", "seats"],
        "properties": {
            **{k: FIELDS[k] for k in PERSON},
            "shop_name": FIELDS["shop_name"],
            "seats": FIELDS["seats"],
        },
    }
    food = publish(
        market,
        "010000300000",
        name="食品经营许可",
        form_schema=form,
        committed_days=5,
        statutory_days=20,
        workflow=parallel(("ljs-xfzd", "消防")),
        materials=FOOD_MATERIALS,
    )
    birth = publish(
        health,
        "070000100000",
        name="出生医学证明签发",
        workflow=simple(),
        form_schema={
            "type": "object",
            "required": [*PERSON, "baby_name"],
            "properties": {**{k: FIELDS[k] for k in PERSON}, "baby_name": FIELDS["baby_name"]},
        },
    )
    staff = {
        (dept.code, role): StaffFactory(
            roles=[(dept, role)], totp=True, display_name=f"{dept.short_name}{role}"
        )
        for dept in (market, fire, health)
        for role in (ROLE.INTAKE_CLERK, ROLE.REVIEWER, ROLE.APPROVER)
    }
    citizen = UserFactory()
    return {
        "market": market,
        "fire": fire,
        "health": health,
        "food": food,
        "birth": birth,
        "staff": staff,
        "citizen": citizen,
        "org": OrganisationFactory(legal_representative=citizen.person),
    }


def food_answers(**extra):
    return {"shop_name": "临江味道", "seats": 40, **extra}


def pdf(name="平面图.pdf", content=None):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tongban.cases.demo import DEMO_PDF

    return SimpleUploadedFile(name, DEMO_PDF if content is None else content)


def citizen_client(city):
    from django.test import Client

    client = Client()
    client.force_login(city["citizen"])
    return client


def staff(city, dept, role):
    """The city's staff member of ``dept`` in ``role``."""
    return city["staff"][(dept, role)]


def act(city, case, step, action, **kwargs):
    """The step's task acted on by the staff member whose role that kind of task needs."""
    task = CaseTask.objects.get(case=case, step_key=step)
    role = {
        "accept": ROLE.INTAKE_CLERK,
        "review": ROLE.REVIEWER,
        "decide": ROLE.APPROVER,
        "close": ROLE.INTAKE_CLERK,
    }[task.kind]
    return services.task_act(
        actor=staff(city, task.department.code, role), task=task, action=action, **kwargs
    )


def layout(name="平面图.pdf", content=None):
    """A genuine (tiny) PDF upload for the food licence's required floor plan."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tongban.cases.demo import DEMO_PDF

    return {"layout": SimpleUploadedFile(name, DEMO_PDF if content is None else content)}


SSO_REDIRECT = "https://window.example.gov.cn/oidc/callback"


def consent(user, department, *, scopes=("openid", "registration.apply"), trusted=False):
    """The person signs in to one of ``department``'s systems (OIDC authorization code with PKCE) and agrees
    on the consent page: the authorisation a system needs before it files for them. Returns the token
    response (access and refresh token)."""
    import base64
    import hashlib
    import secrets
    from urllib.parse import parse_qs, urlparse

    from django.test import Client

    from tongban.identity.services import system_client_create

    client, secret = system_client_create(
        acting_user=None,
        department=department,
        name="窗口系统单点登录",
        scopes=list(scopes),
        grant_type="authorization-code",
        redirect_uris=[SSO_REDIRECT],
        trusted=trusted,
    )
    browser = Client()
    browser.force_login(user)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {
        "response_type": "code",
        "client_id": client.application.client_id,
        "redirect_uri": SSO_REDIRECT,
        "scope": " ".join(scopes),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "s1",
    }
    page = browser.get("/o/authorize/", query)
    if trusted:  # no consent page
        redirect = page
    else:
        assert page.status_code == 200, page.content
        fields = {k: v for k, v in page.context["form"].initial.items() if v is not None}
        redirect = browser.post("/o/authorize/", {**fields, "allow": "Authorize"})
    assert redirect.status_code == 302, redirect.content
    code = parse_qs(urlparse(redirect["Location"]).query)["code"][0]
    response = Client().post(
        "/o/token/",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": SSO_REDIRECT,
            "client_id": client.application.client_id,
            "client_secret": secret,
            "code_verifier": verifier,
        },
    )
    assert response.status_code == 200, response.content
    return {**response.json(), "client_id": client.application.client_id, "client_secret": secret}
