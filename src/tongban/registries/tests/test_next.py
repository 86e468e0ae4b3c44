"""Issue 15 (low): the quality ledger's `next` must not send staff to another site."""

import pytest
from django.test import Client

from tongban.identity.tests.factories import ROLE, StaffFactory
from tongban.registries import quality
from tongban.registries.models import QualityIssue
from tongban.testing import login_staff

from .conftest import pid

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)", "https:evil.example"]
)
def test_issue_action_does_not_redirect_off_site(registries, target):
    population, _entities = registries
    quality.run_checks(population)
    officer = StaffFactory(roles=[(population.owner, ROLE.DATA_OFFICER)], totp=True)
    client = Client()
    login_staff(client, officer)
    issue = QualityIssue.objects.get(rule__code="name-present", record_key=pid(9))
    url = f"/staff/registries/issues/{issue.pk}/"
    response = client.post(url, {"action": "recheck", "next": target})
    assert response.status_code == 302 and response["Location"] == "/staff/registries/issues/"
    page = client.get(response["Location"])
    assert page.status_code == 200 and "复核未通过" in page.content.decode()
    # An address on this site is still followed.
    here = client.post(url, {"action": "recheck", "next": "/staff/registries/issues/?page=2"})
    assert here["Location"] == "/staff/registries/issues/?page=2"
