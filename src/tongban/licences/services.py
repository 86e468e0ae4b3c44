"""Licence writes: seal keys (create, rotate with overlap, revoke), issuance (from an approved case or by
staff), change and renewal as new linked versions, suspension and revocation, wallet shares and uses, and
verification. Every licence is signed with its issuer's seal over RFC 8785 canonical JSON."""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from collections.abc import Mapping
from typing import Any

from django.core import signing
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from jsonschema import Draft202012Validator

from tongban.core import codes, statements
from tongban.core.constants import AuditEventType, AuditOutcome
from tongban.core.services import audit_record
from tongban.identity.models import Department, User
from tongban.identity.permissions import Perm
from tongban.identity.selectors import holder_codes_for, verified_id_number
from tongban.identity.services import require_perm

from .constants import FORMAT, Algorithm, HolderCodeType, LicenceStatus
from .keystore import key_store
from .models import Licence, LicenceShare, LicenceType, LicenceUse, SealKey
from .verify import KeyDirectory, KeyInfo, Result, signing_input, verify_file

SHOW_SECONDS = 300  # a 亮证 QR code works for five minutes
SERIAL_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class LicenceError(Exception):
    def __init__(self, message: str, *, problems: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or {}


class IssuerNotAuthorised(LicenceError):
    """The department has no authority to issue licences of this type (it is not one of its issuers)."""

    def __init__(self, licence_type: LicenceType, issuer: Department, allowed: list[Department]) -> None:
        if allowed:
            message = _("%(d)s无权签发“%(t)s”：该类证照由%(a)s颁发。") % {
                "d": issuer.name,
                "t": licence_type.name,
                "a": "、".join(d.name for d in allowed),
            }
        else:
            message = _("“%(t)s”尚未指定颁发机构，%(d)s不能签发。") % {
                "d": issuer.name,
                "t": licence_type.name,
            }
        super().__init__(message, problems={"issuer": message})
        self.licence_type = licence_type
        self.issuer = issuer


# ---- licence types and their issuers -------------------------------------------------------------------


def licence_type_issuers(licence_type: LicenceType) -> list[Department]:
    """The departments that may issue this type: its ``issuers`` and its default issuer."""
    return list(
        Department.objects.filter(Q(pk=licence_type.issuer_id) | Q(issuable_licence_types=licence_type))
        .distinct()
        .order_by("code")
    )


def _check_issuer(licence_type: LicenceType, issuer: Department) -> None:
    if issuer.pk not in licence_type.issuer_ids():
        raise IssuerNotAuthorised(licence_type, issuer, licence_type_issuers(licence_type))


def licence_issue_refusal_record(
    exc: IssuerNotAuthorised,
    *,
    acting_user: User | None,
    action: str,
    request: HttpRequest | None = None,
    **extra: Any,
) -> None:
    """The trace of a refused issuance, renewal or change; call it after the rollback so that it stays."""
    audit_record(
        event_type=AuditEventType.PERMISSION_DENIED,
        acting_user=acting_user,
        request=request,
        department=exc.issuer,
        target=exc.licence_type,
        outcome=AuditOutcome.FAILURE,
        extra_data={
            "action": action,
            "reason": "not_licence_issuer",
            "licence_type": exc.licence_type.code,
            "issuer": exc.issuer.code,
            **extra,
        },
    )


def licence_type_set_issuers(
    *,
    acting_user: User | None,
    licence_type: LicenceType,
    departments: list[Department],
    request: HttpRequest | None = None,
) -> list[Department]:
    """Name the departments that may issue this type (the default issuer always may). Licences already
    issued by a department taken off the list stop verifying and are no longer reused as materials."""
    if acting_user is not None:
        require_perm(
            acting_user, Perm.PLATFORM_MANAGE, None, request=request, action="licence_type_set_issuers"
        )
    with transaction.atomic(durable=True):
        licence_type = LicenceType.objects.select_for_update().get(pk=licence_type.pk)
        before = sorted(licence_type.issuers.values_list("code", flat=True))
        licence_type.issuers.set(departments)
        after = sorted(d.code for d in departments)
        audit_record(
            event_type=AuditEventType.LICENCE_TYPE_CHANGED,
            acting_user=acting_user,
            request=request,
            target=licence_type,
            extra_data={"action": "set_issuers", "code": licence_type.code, "before": before, "after": after},
        )
    return licence_type_issuers(licence_type)


# ---- seal keys -----------------------------------------------------------------------------------------


def _new_key(department: Department, algorithm: str, *, valid_from: dt.datetime | None = None) -> SealKey:
    store = key_store()
    public, handle = store.generate(algorithm)
    return SealKey.objects.create(
        key_id=f"{department.code}-{secrets.token_hex(6)}",
        department=department,
        algorithm=algorithm,
        public_key=public,
        private_key=handle,
        key_store=store.name,
        valid_from=valid_from or timezone.now(),
    )


def seal_key_create(
    *,
    acting_user: User | None,
    department: Department,
    algorithm: str = Algorithm.SM2,
    request: HttpRequest | None = None,
) -> SealKey:
    if acting_user is not None:
        require_perm(acting_user, Perm.SEAL_MANAGE, department, request=request, action="seal_key_create")
    if algorithm not in Algorithm.values:
        raise LicenceError(_("不支持的签名算法。"))
    if not department.uscc:
        raise LicenceError(_("部门没有统一社会信用代码，不能制作电子印章。"))
    with transaction.atomic(durable=True):
        key = _new_key(department, algorithm)
        _audit_key(acting_user, key, "create", request)
    return key


def seal_key_rotate(
    *,
    acting_user: User | None,
    department: Department,
    algorithm: str = Algorithm.SM2,
    overlap: dt.timedelta = dt.timedelta(0),
    request: HttpRequest | None = None,
) -> SealKey:
    """A new key signs from now; the department's current keys of that algorithm stop signing after
    ``overlap`` (for issuers still finishing with the old key). Licences signed before stay valid."""
    if acting_user is not None:
        require_perm(acting_user, Perm.SEAL_MANAGE, department, request=request, action="seal_key_rotate")
    now = timezone.now()
    with transaction.atomic(durable=True):
        SealKey.objects.select_for_update().filter(
            department=department, algorithm=algorithm, retired_at__isnull=True, revoked_at__isnull=True
        ).update(retired_at=now + overlap)
        key = _new_key(department, algorithm, valid_from=now)
        _audit_key(acting_user, key, "rotate", request)
    return key


def seal_key_revoke(
    *, acting_user: User | None, key: SealKey, reason: str, request: HttpRequest | None = None
) -> int:
    """Revoke a (compromised) key: every signature by it becomes invalid, so the still-current licences it
    signed are signed again with the department's current key (a new one if needed). Returns how many."""
    if acting_user is not None:
        require_perm(acting_user, Perm.SEAL_MANAGE, key.department, request=request, action="seal_key_revoke")
    reason = (reason or "").strip()
    if not reason:
        raise LicenceError(_("请填写吊销原因。"), problems={"reason": _("请填写吊销原因。")})
    with transaction.atomic(durable=True):
        key = SealKey.objects.select_for_update().get(pk=key.pk)
        if key.revoked_at is not None:
            raise LicenceError(_("该密钥已吊销。"))
        key.revoked_at = timezone.now()
        key.revocation_reason = reason[:200]
        key.retired_at = key.retired_at or key.revoked_at
        key.save()
        resigned = 0
        for licence in Licence.objects.select_for_update().filter(
            seal_key=key, status__in=[LicenceStatus.VALID, LicenceStatus.SUSPENDED]
        ):
            _sign(licence, _signing_key(licence.issuer, key.algorithm))
            licence.save(update_fields=["document", "seal_key"])
            resigned += 1
        _audit_key(acting_user, key, "revoke", request, reason=reason, resigned=resigned)
    return resigned


def _audit_key(
    acting_user: User | None, key: SealKey, action: str, request: HttpRequest | None, **extra: Any
) -> None:
    audit_record(
        event_type=AuditEventType.SEAL_KEY_CHANGED,
        acting_user=acting_user,
        request=request,
        department=key.department,
        target=key,
        extra_data={"action": action, "key_id": key.key_id, "algorithm": key.algorithm, **extra},
    )


def _signing_key(department: Department, algorithm: str | None = None) -> SealKey:
    """The department's newest key that may sign now; one is made on first use."""
    now = timezone.now()
    keys = SealKey.objects.filter(department=department, revoked_at__isnull=True, valid_from__lte=now).filter(
        Q(retired_at__isnull=True) | Q(retired_at__gt=now)
    )
    if algorithm:
        keys = keys.filter(algorithm=algorithm)
    key = keys.order_by("-valid_from", "-id").first()
    if key is None:
        key = _new_key(department, algorithm or Algorithm.SM2)
        _audit_key(None, key, "create_on_first_use", None)
    return key


# ---- issuance ------------------------------------------------------------------------------------------


def _serial() -> str:
    return timezone.localdate().strftime("%Y%m%d") + "".join(
        secrets.choice(SERIAL_ALPHABET) for _ in range(8)
    )


def _document(licence: Licence) -> dict[str, Any]:
    """The GB/T 36903 metadata and face data, as the holder's file carries them."""
    return {
        "format": FORMAT,
        "identifier": licence.identifier,
        "type": {"code": licence.licence_type.code, "name": licence.licence_type.name},
        "name": licence.name,
        "number": licence.number,
        "issuer": {"name": licence.issuer.name, "code": licence.issuer_code},
        "jurisdiction": licence.jurisdiction,
        "holder": {
            "name": licence.holder_name,
            "code": licence.holder_code,
            "code_type": licence.holder_code_type,
        },
        "issued_on": licence.issued_on.isoformat(),
        "valid_from": licence.valid_from.isoformat(),
        "valid_to": licence.valid_to.isoformat() if licence.valid_to else None,
        "face": licence.face,
        "related": licence.previous.identifier if licence.previous else None,
        "version": licence.version,
    }


def _sign(licence: Licence, key: SealKey) -> None:
    document = {
        "licence": _document(licence),
        "proof": {"type": key.algorithm, "key_id": key.key_id, "signed_at": timezone.now().isoformat()},
    }
    signature = key_store().sign(key.algorithm, bytes(key.private_key), signing_input(document))
    document["proof"]["signature"] = base64.b64encode(signature).decode()
    licence.document = document
    licence.seal_key = key


def _check_holder(code_type: str, code: str) -> str:
    try:
        if code_type == HolderCodeType.ID_NUMBER:
            return codes.parse_resident_id(code).number
        return codes.parse_uscc(code).code
    except codes.CodeError as exc:
        raise LicenceError(str(exc), problems={"holder_code": str(exc)}) from None


def _check_face(licence_type: LicenceType, face: Mapping[str, Any]) -> None:
    problems = {}
    for error in Draft202012Validator(licence_type.face_schema).iter_errors(dict(face)):
        name = (
            str(error.path[0])
            if error.path
            else (error.message.split("'")[1] if "'" in error.message else "")
        )
        title = licence_type.face_schema.get("properties", {}).get(name, {}).get("title", name)
        problems.setdefault(name, _("照面信息“%(t)s”不正确。") % {"t": title})
    if problems:
        raise LicenceError(_("照面信息有 %(n)d 处不正确。") % {"n": len(problems)}, problems=problems)


def _issue(
    *,
    licence_type: LicenceType,
    issuer: Department,
    holder_name: str,
    holder_code: str,
    face: Mapping[str, Any],
    valid_from: dt.date | None = None,
    valid_to: dt.date | None = None,
    previous: Licence | None = None,
    case: Any = None,
) -> Licence:
    """Issue inside the caller's transaction (a case closing, or the services below). Every issuance,
    renewal and change comes here, so here the issuer's authority over the type is checked."""
    _check_issuer(licence_type, issuer)
    holder_code = _check_holder(licence_type.holder_code_type, holder_code)
    _check_face(licence_type, face)
    if not issuer.uscc:
        raise LicenceError(_("颁发机构没有统一社会信用代码。"))
    today = timezone.localdate()
    valid_from = valid_from or today
    if valid_to is None and licence_type.validity_years:
        valid_to = valid_from.replace(year=valid_from.year + licence_type.validity_years) - dt.timedelta(
            days=1
        )
    version = previous.version + 1 if previous else 1
    serial = codes.parse_licence_identifier(previous.identifier).serial if previous else _serial()
    licence = Licence(
        identifier=codes.make_licence_identifier(licence_type.code, issuer.uscc, serial, version),
        licence_type=licence_type,
        number=previous.number if previous else serial,
        name=licence_type.name,
        issuer=issuer,
        issuer_code=issuer.uscc,
        jurisdiction=issuer.area.code,
        holder_name=holder_name,
        holder_code=holder_code,
        holder_code_type=licence_type.holder_code_type,
        issued_on=today,
        valid_from=valid_from,
        valid_to=valid_to,
        face=dict(face),
        previous=previous,
        version=version,
        case=case,
    )
    _sign(licence, _signing_key(issuer))
    licence.save()
    if previous is not None:
        Licence.objects.filter(pk=previous.pk).update(
            status=LicenceStatus.SUPERSEDED, status_reason=_("已换发新版本 %(v)03d") % {"v": version}
        )
    return licence


def licence_issue(
    *,
    acting_user: User | None,
    licence_type: LicenceType,
    holder_name: str,
    holder_code: str,
    face: Mapping[str, Any],
    issuer: Department | None = None,
    valid_from: dt.date | None = None,
    request: HttpRequest | None = None,
) -> Licence:
    """Issue a licence by hand (authorised staff of the issuing department)."""
    issuer = issuer or licence_type.issuer
    if issuer is None:
        raise LicenceError(_("请指定颁发机构。"))
    if acting_user is not None:
        require_perm(acting_user, Perm.LICENCE_ISSUE, issuer, request=request, action="licence_issue")
    try:
        with transaction.atomic(durable=True):
            licence = _issue(
                licence_type=licence_type,
                issuer=issuer,
                holder_name=holder_name,
                holder_code=holder_code,
                face=face,
                valid_from=valid_from,
            )
            _audit_licence(acting_user, licence, AuditEventType.LICENCE_ISSUED, "issue", request)
    except IssuerNotAuthorised as exc:
        licence_issue_refusal_record(exc, acting_user=acting_user, action="licence_issue", request=request)
        raise
    return licence


def issue_for_case(case: Any) -> Licence | None:
    """Called by the case engine, in its transaction, when a case closes approved: the item's result
    licence, for the applicant (or the organisation applied for), with the case's answers as face data.
    Raises IssuerNotAuthorised when the case's department may not issue the type: the caller records it
    with ``licence_issue_refusal_record`` once its savepoint is rolled back."""
    version = case.item_version
    code = version.result_licence_type if version else ""
    licence_type = LicenceType.objects.filter(code=code).first() if code else None
    if licence_type is None:
        return None
    if licence_type.holder_code_type == HolderCodeType.USCC:
        if case.organisation is None:
            return None
        holder_name, holder_code = case.organisation.name, case.organisation.uscc
    else:
        person = case.applicant.person
        holder_name, holder_code = person.name, person.id_number
    properties = licence_type.face_schema.get("properties", {})
    face = {name: case.answers[name] for name in properties if name in case.answers}
    licence = _issue(
        licence_type=licence_type,
        issuer=case.department,
        holder_name=holder_name,
        holder_code=holder_code,
        face=face,
        case=case,
    )
    _audit_licence(None, licence, AuditEventType.LICENCE_ISSUED, "issue_for_case", None, case=case.number)
    return licence


def licence_change(
    *,
    acting_user: User | None,
    licence: Licence,
    face: Mapping[str, Any] | None = None,
    renew: bool = False,
    reason: str,
    request: HttpRequest | None = None,
) -> Licence:
    """Change (new face data) or renew (a new validity period) as a new version linked to this one, which
    is superseded. The holder keeps both; only the new one verifies as current."""
    if acting_user is not None:
        require_perm(
            acting_user, Perm.LICENCE_ISSUE, licence.issuer, request=request, action="licence_change"
        )
    if not (reason or "").strip():
        raise LicenceError(_("请填写变更或延续的理由。"), problems={"reason": _("请填写理由。")})
    try:
        return _licence_change(acting_user, licence, face, renew, reason, request)
    except IssuerNotAuthorised as exc:
        licence_issue_refusal_record(
            exc,
            acting_user=acting_user,
            action="renew" if renew else "change",
            request=request,
            licence=licence.identifier,
        )
        raise


def _licence_change(
    acting_user: User | None,
    licence: Licence,
    face: Mapping[str, Any] | None,
    renew: bool,
    reason: str,
    request: HttpRequest | None,
) -> Licence:
    with transaction.atomic(durable=True):
        current = (
            Licence.objects.select_for_update()
            .select_related("licence_type", "issuer__area")
            .get(pk=licence.pk)
        )
        if current.status not in (LicenceStatus.VALID, LicenceStatus.SUSPENDED):
            raise LicenceError(_("只有有效或暂停的证照可以变更或延续。"))
        new = _issue(
            licence_type=current.licence_type,
            issuer=current.issuer,
            holder_name=current.holder_name,
            holder_code=current.holder_code,
            face={**current.face, **(face or {})},
            valid_from=timezone.localdate() if renew else current.valid_from,
            valid_to=None if renew else current.valid_to,
            previous=current,
            case=current.case,
        )
        _audit_licence(
            acting_user,
            new,
            AuditEventType.LICENCE_CHANGED,
            "renew" if renew else "change",
            request,
            reason=reason,
        )
    return new


def licence_set_status(
    *,
    acting_user: User | None,
    licence: Licence,
    status: str,
    reason: str,
    request: HttpRequest | None = None,
) -> Licence:
    """Suspend, reinstate or revoke, always with a reason. Revocation is final."""
    if acting_user is not None:
        require_perm(
            acting_user, Perm.LICENCE_ISSUE, licence.issuer, request=request, action="licence_status"
        )
    reason = (reason or "").strip()
    if not reason:
        raise LicenceError(_("请填写理由。"), problems={"reason": _("请填写理由。")})
    allowed = {
        LicenceStatus.SUSPENDED: {LicenceStatus.VALID},
        LicenceStatus.VALID: {LicenceStatus.SUSPENDED},
        LicenceStatus.REVOKED: {LicenceStatus.VALID, LicenceStatus.SUSPENDED},
    }
    with transaction.atomic(durable=True):
        current = Licence.objects.select_for_update().get(pk=licence.pk)
        if current.status not in allowed.get(status, set()):
            raise LicenceError(
                _("证照当前为“%(s)s”，不能改为“%(t)s”。")
                % {"s": current.get_status_display(), "t": LicenceStatus(status).label}
            )
        current.status, current.status_reason = status, reason[:200]
        current.save(update_fields=["status", "status_reason"])
        _audit_licence(acting_user, current, AuditEventType.LICENCE_CHANGED, status, request, reason=reason)
    return current


def _audit_licence(
    acting_user: User | None,
    licence: Licence,
    event_type: str,
    action: str,
    request: HttpRequest | None,
    **extra: Any,
) -> None:
    audit_record(
        event_type=event_type,
        acting_user=acting_user,
        request=request,
        department=licence.issuer,
        target=licence,
        extra_data={"action": action, "identifier": licence.identifier, **extra},
    )


# ---- verification --------------------------------------------------------------------------------------


def key_directory(*, with_statuses: bool = False) -> KeyDirectory:
    """Every seal key with its validity: the public key directory (which key was valid when)."""
    keys = {}
    for key in SealKey.objects.select_related("department"):
        keys[key.key_id] = KeyInfo(
            key_id=key.key_id,
            algorithm=key.algorithm,
            public_key=key.public_key,
            department_code=key.department.code,
            department_name=key.department.name,
            issuer_code=key.department.uscc,
            valid_from=key.valid_from.isoformat(),
            retired_at=key.retired_at.isoformat() if key.retired_at else None,
            revoked_at=key.revoked_at.isoformat() if key.revoked_at else None,
            revocation_reason=key.revocation_reason,
        )
    statuses = {}
    if with_statuses:
        for identifier, status, reason in Licence.objects.exclude(status=LicenceStatus.VALID).values_list(
            "identifier", "status", "status_reason"
        ):
            statuses[identifier] = [status, reason]
    return KeyDirectory(
        keys=keys,
        exported_at=timezone.now().isoformat(),
        statuses=statuses,
        type_issuers=type_issuer_codes(),
    )


def type_issuer_codes() -> dict[str, list[str]]:
    """Licence type code -> the codes of the departments that may issue it (the key directory's
    ``licence_type_issuers``: a verifier refuses a licence sealed by any other department)."""
    found: dict[str, set[str]] = {}
    for code, default in LicenceType.objects.values_list("code", "issuer__code"):
        found[code] = {default} if default else set()
    through = LicenceType.issuers.through
    for code, department in through.objects.values_list("licencetype__code", "department__code"):
        found.setdefault(code, set()).add(department)
    return {code: sorted(departments) for code, departments in sorted(found.items())}


def _registry_status(identifier: str) -> tuple[str, str] | None:
    """The licence's current status and reason in the registry; None for a licence it does not hold."""
    row = Licence.objects.filter(identifier=identifier).values_list("status", "status_reason").first()
    return (row[0], row[1]) if row else None


def licence_verify(document: Any, *, by: str = "", request: HttpRequest | None = None) -> Result:
    """Verify a licence file online: signature, seal key validity, and the registry's current status.
    A verification of a known licence is recorded as a use its holder sees."""
    directory = key_directory()

    result = verify_file(document, directory, today=timezone.localdate(), status=_registry_status)
    identifier = (result.licence or {}).get("identifier")
    licence = Licence.objects.filter(identifier=identifier).first() if identifier else None
    if licence is not None and result.verdict != "tampered":
        LicenceUse.objects.create(licence=licence, kind=LicenceUse.VERIFIED, by=by[:120] or _("公开核验"))
    return result


def signed_file(licence: Licence) -> dict[str, Any]:
    return licence.document


def verifiable_credential(licence: Licence) -> dict[str, Any]:
    """The licence as a W3C Verifiable Credential, signed with the issuer's Ed25519 seal key (made on first
    use: the standard cryptosuite eddsa-jcs-2022 has no SM2 counterpart)."""
    from .formats import verifiable_credential as credential

    with transaction.atomic():
        key = _signing_key(licence.issuer, Algorithm.ED25519)
    return credential(licence, key)


# ---- the wallet ----------------------------------------------------------------------------------------


def show_token(licence: Licence) -> str:
    """A short-lived token for the 亮证 QR code (signed, expires after SHOW_SECONDS)."""
    return signing.dumps({"l": licence.pk}, salt="licence-show", compress=True)


def shown_licence(token: str, *, viewer: str = "") -> Licence:
    try:
        data = signing.loads(token, salt="licence-show", max_age=SHOW_SECONDS)
    except signing.SignatureExpired:
        raise LicenceError(_("亮证码已过期，请持证人重新出示。")) from None
    except signing.BadSignature:
        raise LicenceError(_("亮证码无效。")) from None
    licence = Licence.objects.select_related("licence_type", "issuer").filter(pk=data.get("l")).first()
    if licence is None:
        raise LicenceError(_("亮证码无效。"))
    LicenceUse.objects.create(licence=licence, kind=LicenceUse.SHOWN, by=viewer[:120] or _("扫码查看"))
    return licence


def _check_holder_access(
    user: User, licence: Licence, request: HttpRequest | None, action: str, **extra: Any
) -> None:
    """Refuse, audited, unless ``user`` may act now for the licence's holder: the person themself, or the
    organisation's legal representative or valid agent (``holder_codes_for``)."""
    if licence.holder_code in holder_codes_for(user):
        return
    audit_record(
        event_type=AuditEventType.PERMISSION_DENIED,
        acting_user=user,
        request=request,
        target=licence,
        outcome=AuditOutcome.FAILURE,
        extra_data={"action": action, **extra},
    )
    raise LicenceError(_("您不是该证照的持证人或其法定代表人、有效经办人。"))


def share_create(
    *,
    holder: User,
    licence: Licence,
    recipient: str,
    purpose: str,
    days: int = 7,
    request: HttpRequest | None = None,
) -> LicenceShare:
    """The holder consents to show one licence to someone, for a purpose, for at most 30 days."""
    recipient, purpose = (recipient or "").strip(), (purpose or "").strip()
    problems = {}
    if not recipient:
        problems["recipient"] = _("请填写分享对象。")
    if not purpose:
        problems["purpose"] = _("请填写用途。")
    if not 1 <= int(days) <= 30:
        problems["days"] = _("有效期为 1 至 30 天。")
    if problems:
        raise LicenceError(_("分享信息不完整。"), problems=problems)
    _check_holder_access(holder, licence, request, "share_create")
    with transaction.atomic(durable=True):
        share = LicenceShare.objects.create(
            token=secrets.token_urlsafe(24),
            licence=licence,
            created_by=holder,
            recipient=recipient[:100],
            purpose=purpose[:200],
            expires_at=timezone.now() + dt.timedelta(days=int(days)),
        )
        audit_record(
            event_type=AuditEventType.LICENCE_SHARED,
            acting_user=holder,
            request=request,
            target=licence,
            extra_data={"recipient": share.recipient, "days": int(days)},
        )
    return share


def share_revoke(*, holder: User, share: LicenceShare, request: HttpRequest | None = None) -> bool:
    """The holder withdraws a share: its link stops working at once. False when it was already withdrawn
    (nothing changes and nothing is recorded). ``holder``: whoever may act for the licence's holder now
    (the person, or the organisation's legal representative or valid agent, ``holder_codes_for``), whoever
    made the share: a former agent cannot, the representative can withdraw what a former agent shared."""
    _check_holder_access(holder, share.licence, request, "share_revoke", share=share.pk)
    with transaction.atomic(durable=True):
        revoked = LicenceShare.objects.filter(pk=share.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if revoked:
            audit_record(
                event_type=AuditEventType.LICENCE_SHARE_REVOKED,
                acting_user=holder,
                request=request,
                target=share.licence,
                extra_data={"share": share.pk, "recipient": share.recipient},
            )
    return bool(revoked)


def share_open(token: str, *, viewer: str = "") -> LicenceShare:
    share = (
        LicenceShare.objects.select_related("licence__licence_type", "licence__issuer")
        .filter(token=token)
        .first()
    )
    if share is None:
        raise LicenceError(_("分享链接无效。"))
    if share.revoked_at is not None:
        raise LicenceError(_("持证人已撤回此分享。"))
    if share.expires_at <= timezone.now():
        raise LicenceError(
            _("分享链接已于 %(t)s 失效。")
            % {"t": timezone.localtime(share.expires_at).strftime("%Y-%m-%d %H:%M")}
        )
    LicenceUse.objects.create(
        licence=share.licence,
        kind=LicenceUse.SHARED_VIEW,
        by=viewer[:120] or share.recipient,
        share=share,
        purpose=share.purpose,
    )
    return share


# ---- reuse in applications -----------------------------------------------------------------------------


def applicant_holder_codes(applicant: User, organisation: Any = None) -> list[str]:
    """Whose licences an application may use, in order of preference: the organisation applied for, then
    the applicant's own (an enterprise's application also uses the representative's ID card)."""
    codes_ = [organisation.uscc] if organisation is not None else []
    number = verified_id_number(applicant)  # a self-declared ID number reuses nobody's licences
    if number:
        codes_.append(number)
    return codes_


def held_licences(holder_codes: list[str], type_codes: set[str]) -> dict[str, int]:
    """Licence type code -> id of the newest current valid licence of that type held under one of
    ``holder_codes`` (earlier codes win: an enterprise's own before its representative's). One light
    query: it runs in every submission whose item accepts licences."""
    if not holder_codes:
        return {}
    types = sorted(type_codes)
    valid_to = statements.column(Licence, "valid_to")
    issuer = statements.column(Licence, "issuer")
    through = LicenceType.issuers.through
    authorised = (  # the licence's issuer may issue the type: the default issuer or one of the issuers
        f"AND (l.{issuer} = t.{statements.column(LicenceType, 'issuer')} OR EXISTS (SELECT 1 FROM "  # noqa: S608
        f"{statements.table(through)} i WHERE i.{statements.column(through, 'licencetype')} = t.id "
        f"AND i.{statements.column(through, 'department')} = l.{issuer})) "
    )
    sql = (
        f"SELECT t.code, l.id, l.{statements.column(Licence, 'holder_code')} "  # noqa: S608
        f"FROM {statements.table(Licence)} l JOIN {statements.table(LicenceType)} t "
        f"ON t.id = l.{statements.column(Licence, 'licence_type')} "
        f"WHERE l.{statements.column(Licence, 'holder_code')} IN ({statements.placeholders(holder_codes)}) "
        f"AND t.code IN ({statements.placeholders(types)}) AND l.{statements.column(Licence, 'status')} = %s "
        f"AND (l.{valid_to} IS NULL OR l.{valid_to} >= %s) {authorised}"
        f"ORDER BY l.{statements.column(Licence, 'issued_on')} DESC, l.id DESC"
    )
    today = statements.param(Licence, "valid_to", timezone.localdate())
    with statements.cursor() as cursor:  # a statement, not a queryset: the ORM's compilation cost more
        cursor.execute(sql, [*holder_codes, *types, LicenceStatus.VALID, today])
        rows = cursor.fetchall()
    found: dict[str, tuple[int, int]] = {}
    for code, pk, holder in rows:
        rank = holder_codes.index(holder)
        if code not in found or rank < found[code][0]:
            found[code] = (rank, pk)
    return {code: pk for code, (_rank, pk) in found.items()}


def record_case_uses(case: Any, licence_ids: Mapping[str, int]) -> None:
    """Inside the submission's transaction: each licence that stood in for a material is recorded against
    the case, for the staff (the verified licence instead of an upload) and for the holder."""
    LicenceUse.objects.bulk_create(
        [
            LicenceUse(
                licence_id=pk,
                kind=LicenceUse.CASE_MATERIAL,
                by=case.department.name,
                department=case.department,
                case=case,
                purpose=case.title,
            )
            for pk in licence_ids.values()
        ]
    )


def licences_for_case(case: Any) -> list[tuple[LicenceUse, Result]]:
    """The licences that stood in for this case's materials, each verified now (for the staff page)."""
    directory = key_directory()
    today = timezone.localdate()
    uses = LicenceUse.objects.filter(case=case, kind=LicenceUse.CASE_MATERIAL).select_related("licence")

    return [
        (use, verify_file(use.licence.document, directory, today=today, status=_registry_status))
        for use in uses
    ]
