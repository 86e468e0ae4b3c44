"""OpenID Connect provider glue for django-oauth-toolkit: signing key, claims, per-client scopes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from oauth2_provider.oauth2_validators import OAuth2Validator

from .models import SystemClient
from .selectors import organisations_for


def load_or_create_key(path: Path) -> str:
    """The RSA key that signs ID tokens; generated once (0600) when the deployment did not provide one."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(pem)
        tmp.chmod(0o600)
        tmp.replace(path)
    return path.read_text()


class TongbanOAuth2Validator(OAuth2Validator):
    oidc_claim_scope = {
        **OAuth2Validator.oidc_claim_scope,
        "real_name_level": "profile",
        "id_number": "id_number",
        "organisations": "organisation",
    }

    def get_claim_dict(self, request: Any) -> dict[str, Any]:
        # The subject is the account's stable UUID, never a database id or the ID number.
        claims: dict[str, Any] = {"sub": str(request.user.uuid)}
        claims.update(self.get_additional_claims(request))
        return claims

    def get_additional_claims(self, request: Any) -> dict[str, Any]:
        user = request.user
        person = user.person
        claims: dict[str, Any] = {"name": user.display_name, "locale": "zh-CN"}
        if person is not None:
            claims["real_name_level"] = person.real_name_level
            claims["id_number"] = person.id_number
            claims["birthdate"] = person.birth_date.isoformat()
            claims["gender"] = "male" if person.sex == "M" else "female"
        if person is not None:
            # Organisations the person may act for now (legal representative or valid agent).
            claims["organisations"] = [
                {
                    "uscc": org.uscc,
                    "name": org.name,
                    "role": "legal_representative" if org.legal_representative_id == person.pk else "agent",
                }
                for org in organisations_for(user)
            ]
        phone = user.phone or (person.phone if person else "")
        if phone:
            claims["phone_number"] = "+86" + phone
            claims["phone_number_verified"] = False
        return claims

    def validate_scopes(
        self, client_id: str, scopes: list[str], client: Any, request: Any, *a: Any, **kw: Any
    ) -> bool:
        if not super().validate_scopes(client_id, scopes, client, request, *a, **kw):
            return False
        profile = SystemClient.objects.filter(application=client).first()
        if profile is None:
            return False
        # The ID number needs the person's own consent: never for a client that skips the consent page.
        if "id_number" in scopes and client.skip_authorization:
            return False
        return set(scopes) <= profile.scope_set
