"""OpenID Connect single sign-on and OAuth 2 client credentials, driven by Authlib (an ordinary client
library) against the running server."""

import datetime as dt
import re
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from django.utils import timezone
from joserfc import jwt
from joserfc.jwk import KeySet

from tongban.core.constants import AuditEventType
from tongban.core.models import AuditEvent
from tongban.identity.services import system_client_create

from .factories import PASSWORD, DepartmentFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.live]
REDIRECT = "http://127.0.0.1:8765/callback"


@pytest.fixture
def discovery(live_server):
    doc = requests.get(f"{live_server.url}/o/.well-known/openid-configuration", timeout=10).json()
    assert doc["issuer"].startswith(live_server.url)
    assert "S256" in doc["code_challenge_methods_supported"]
    return doc


@pytest.fixture
def sso_client():
    client, secret = system_client_create(
        acting_user=None,
        department=DepartmentFactory(),
        name="不动产登记系统",
        scopes=["openid", "profile", "phone", "id_number", "organisation"],
        grant_type="authorization-code",
        redirect_uris=[REDIRECT],
    )
    return client.application.client_id, secret


def browser_login(live_server, user):
    """A person's browser: logs in through the login form (CSRF and all)."""
    browser = requests.Session()
    browser.get(f"{live_server.url}/login/", timeout=10)
    response = browser.post(
        f"{live_server.url}/login/",
        data={
            "username": user.username,
            "password": PASSWORD,
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302
    return browser


def consent(browser, authorize_url, allow=True):
    page = browser.get(authorize_url, allow_redirects=False, timeout=10)
    assert page.status_code == 200, page.text[:500]
    html = page.text
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))
    fields = {k: v.replace("&amp;", "&") for k, v in fields.items()}
    if allow:
        fields["allow"] = "Authorize"
    response = browser.post(
        authorize_url, data=fields, allow_redirects=False, headers={"Referer": authorize_url}, timeout=10
    )
    assert response.status_code == 302, response.text[:500]
    return html, response.headers["Location"]


def start(discovery, sso_client, scope, **kwargs):
    client_id, secret = sso_client
    session = OAuth2Session(
        client_id,
        secret,
        scope=scope,
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_post",
    )
    verifier = generate_token(48)
    nonce = generate_token(16)
    url, state = session.create_authorization_url(
        discovery["authorization_endpoint"], code_verifier=verifier, nonce=nonce, **kwargs
    )
    return session, url, verifier, nonce, state


def decode_id_token(discovery, token, client_id, nonce):
    keys = KeySet.import_key_set(requests.get(discovery["jwks_uri"], timeout=10).json())
    decoded = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": discovery["issuer"]},
        aud={"essential": True, "value": client_id},
        nonce={"essential": True, "value": nonce},
        exp={"essential": True},
    ).validate(decoded.claims)
    return decoded.claims


def test_authorization_code_flow_with_pkce_and_id_number_consent(live_server, discovery, sso_client):
    user = UserFactory()
    browser = browser_login(live_server, user)
    session, url, verifier, nonce, state = start(discovery, sso_client, "openid profile phone id_number")
    html, location = consent(browser, url)
    assert "公民身份号码" in html  # the person is told the ID number is asked for
    query = parse_qs(urlparse(location).query)
    assert location.startswith(REDIRECT) and query["state"] == [state]

    token = session.fetch_token(
        discovery["token_endpoint"], authorization_response=location, code_verifier=verifier
    )
    claims = decode_id_token(discovery, token, sso_client[0], nonce)
    assert claims["sub"] == str(user.uuid)
    assert claims["name"] == user.display_name
    assert claims["id_number"] == user.person.id_number
    assert claims["phone_number"] == "+86" + user.phone

    info = session.get(discovery["userinfo_endpoint"], timeout=10).json()
    assert info["sub"] == str(user.uuid) and info["id_number"] == user.person.id_number
    assert AuditEvent.objects.filter(event_type=AuditEventType.OIDC_CONSENT, actor=user).count() == 1

    # The code works once: a replay is refused.
    replay = OAuth2Session(
        sso_client[0], sso_client[1], redirect_uri=REDIRECT, token_endpoint_auth_method="client_secret_post"
    )
    with pytest.raises(OAuthError) as err:
        replay.fetch_token(
            discovery["token_endpoint"], authorization_response=location, code_verifier=verifier
        )
    assert err.value.error == "invalid_grant"


def test_id_number_is_not_released_without_its_scope(live_server, discovery, sso_client):
    user = UserFactory()
    browser = browser_login(live_server, user)
    session, url, verifier, nonce, _ = start(discovery, sso_client, "openid profile")
    _, location = consent(browser, url)
    token = session.fetch_token(
        discovery["token_endpoint"], authorization_response=location, code_verifier=verifier
    )
    claims = decode_id_token(discovery, token, sso_client[0], nonce)
    assert "id_number" not in claims and "phone_number" not in claims
    assert "id_number" not in session.get(discovery["userinfo_endpoint"], timeout=10).json()


def test_declined_consent_returns_access_denied(live_server, discovery, sso_client):
    browser = browser_login(live_server, UserFactory())
    _, url, *_ = start(discovery, sso_client, "openid id_number")
    _, location = consent(browser, url, allow=False)
    query = parse_qs(urlparse(location).query)
    assert query["error"] == ["access_denied"] and "code" not in query


def test_wrong_redirect_uri_is_refused_without_redirecting(live_server, discovery, sso_client):
    browser = browser_login(live_server, UserFactory())
    client_id, _ = sso_client
    session = OAuth2Session(
        client_id, scope="openid", redirect_uri="http://evil.example/callback", code_challenge_method="S256"
    )
    url, _ = session.create_authorization_url(
        discovery["authorization_endpoint"], code_verifier=generate_token(48)
    )
    response = browser.get(url, allow_redirects=False, timeout=10)
    assert response.status_code in (200, 400)
    assert "evil.example" not in response.headers.get("Location", "")
    assert "授权请求无效" in response.text


def test_missing_pkce_is_refused(live_server, discovery, sso_client):
    browser = browser_login(live_server, UserFactory())
    session = OAuth2Session(sso_client[0], scope="openid", redirect_uri=REDIRECT)
    url, _ = session.create_authorization_url(discovery["authorization_endpoint"])
    response = browser.get(url, allow_redirects=False, timeout=10)
    location = response.headers.get("Location", "")
    assert "code=" not in location
    assert "error=invalid_request" in location or "授权请求无效" in response.text


def test_unregistered_scope_for_client_is_refused(live_server, discovery):
    client, secret = system_client_create(
        acting_user=None,
        department=DepartmentFactory(),
        name="只读系统",
        scopes=["openid"],
        grant_type="authorization-code",
        redirect_uris=[REDIRECT],
    )
    browser = browser_login(live_server, UserFactory())
    session = OAuth2Session(
        client.application.client_id,
        secret,
        scope="openid id_number",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
    )
    url, _ = session.create_authorization_url(
        discovery["authorization_endpoint"], code_verifier=generate_token(48)
    )
    response = browser.get(url, allow_redirects=False, timeout=10)
    assert "error=invalid_scope" in response.headers.get("Location", "")


def client_credentials_session(live_server, department, name, scope):
    """A back-end system registered with ``scope`` and holding a token for it."""
    client, secret = system_client_create(acting_user=None, department=department, name=name, scopes=[scope])
    session = OAuth2Session(
        client.application.client_id, secret, scope=scope, token_endpoint_auth_method="client_secret_post"
    )
    session.fetch_token(f"{live_server.url}/o/token/", grant_type="client_credentials")
    return session


def test_client_credentials_and_scoped_api(live_server):
    department = DepartmentFactory()
    session = client_credentials_session(live_server, department, "婚姻登记系统", "identity.verify")
    person = UserFactory().person
    url = f"{live_server.url}/api/identity/persons/verify"
    ok = session.post(url, json={"name": person.name, "id_number": person.id_number}, timeout=10)
    assert ok.status_code == 200 and ok.json()["match"] is True
    wrong_name = session.post(url, json={"name": "别人", "id_number": person.id_number}, timeout=10).json()
    assert wrong_name["match"] is False
    bad = session.post(url, json={"name": person.name, "id_number": "123"}, timeout=10).json()
    assert bad["match"] is False and "18位" in bad["reason"]
    audit = AuditEvent.objects.filter(event_type=AuditEventType.PERSON_VERIFIED, department=department)
    assert audit.count() == 3
    # No token, a forged token, a token without the scope: all refused.
    assert requests.post(url, json={}, timeout=10).status_code == 401
    assert (
        requests.post(url, json={}, headers={"Authorization": "Bearer forged"}, timeout=10).status_code == 401
    )
    reader = client_credentials_session(live_server, department, "目录系统", "identity.read")
    assert reader.post(url, json={"name": "x", "id_number": person.id_number}, timeout=10).status_code == 401
    # A client cannot get a token for a scope it was not given.
    with pytest.raises(OAuthError) as err:
        OAuth2Session(
            reader.client_id,
            reader.client_secret,
            scope="identity.verify",
            token_endpoint_auth_method="client_secret_post",
        ).fetch_token(f"{live_server.url}/o/token/", grant_type="client_credentials")
    assert err.value.error == "invalid_scope"


def test_expired_or_revoked_token_is_refused(live_server, monkeypatch):
    import time

    from oauth2_provider.models import AccessToken

    from tongban.identity.api import ClientScope

    # A checked token is remembered for a moment (TOKEN_CACHE_SECONDS); past that, expiry and revocation hold.
    monkeypatch.setattr(ClientScope.checked_tokens, "seconds", 0.5)
    session = client_credentials_session(live_server, DepartmentFactory(), "户籍系统", "identity.verify")
    person = UserFactory().person
    url = f"{live_server.url}/api/identity/persons/verify"
    body = {"name": person.name, "id_number": person.id_number}
    assert session.post(url, json=body, timeout=10).status_code == 200
    token = AccessToken.objects.get(application__client_id=session.client_id)
    token.expires = timezone.now() - dt.timedelta(seconds=1)
    token.save()
    time.sleep(0.6)
    assert session.post(url, json=body, timeout=10).status_code == 401
    token.expires = timezone.now() + dt.timedelta(hours=1)
    token.save()
    time.sleep(0.6)
    assert session.post(url, json=body, timeout=10).status_code == 200
    token.delete()  # revoked
    time.sleep(0.6)
    assert session.post(url, json=body, timeout=10).status_code == 401
