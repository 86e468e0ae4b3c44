"""Identity reads: who may act for whom, and who may do what where."""

from __future__ import annotations

import datetime as dt

from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from oauth2_provider.models import AccessToken, refresh_token_expire_timedelta

from .constants import AccountType, StaffRoleName
from .models import Department, Organisation, OrganisationAgent, StaffRole, SystemClient, User
from .permissions import ROLE_PERMISSIONS, Perm


def verified_id_number(user: User) -> str | None:
    """The account's ID number when its claim to it is verified (``Person.is_verified``), else None: a
    self-declared account (anyone who knew a name and an ID number could open one) gets nobody's
    licences or data by it."""
    person = getattr(user, "person", None) if user.is_authenticated else None
    return person.id_number if person is not None and person.is_verified else None


def acting_codes(request: HttpRequest) -> list[str]:
    """The code of whoever the request acts as: the organisation's credit code, else the person's verified
    ID number (whose licences the wallet shows, whose data reads the data tracker lists)."""
    if getattr(request, "acting_organisation", None) is not None:
        return [request.acting_organisation.uscc]
    number = verified_id_number(request.user)
    return [number] if number else []


def valid_agencies(on: dt.date | None = None) -> QuerySet[OrganisationAgent]:
    """Agents' authorisations in force on a day (today): not revoked, not past their end date. An agent
    holds no narrower scope: a valid authorisation covers everything done for the organisation."""
    day = on or timezone.localdate()
    return OrganisationAgent.objects.filter(revoked_at__isnull=True).filter(
        Q(valid_until__isnull=True) | Q(valid_until__gte=day)
    )


def organisations_for(user: User) -> QuerySet[Organisation]:
    """Organisations the user may act for today: as legal representative (the current data) or valid
    agent. The one rule of representation: the acting switch, cases, drafts, licences and notices follow
    it, so a revoked or expired agency ends at once everywhere."""
    if user.person_id is None or not user.is_active:
        return Organisation.objects.none()
    agent_orgs = valid_agencies().filter(person_id=user.person_id).values("organisation_id")
    return Organisation.objects.filter(
        Q(legal_representative_id=user.person_id) | Q(pk__in=agent_orgs)
    ).order_by("name")


def can_act_for(user: User, organisation: Organisation) -> bool:
    return organisations_for(user).filter(pk=organisation.pk).exists()


def holder_codes_for(user: User) -> list[str]:
    """The codes of everyone the user may act for now: their own verified ID number, and the credit code of
    each organisation of ``organisations_for`` (whose licences they may manage)."""
    person = getattr(user, "person", None) if user.is_authenticated else None
    if person is None:
        return []
    own = [person.id_number] if person.is_verified else []
    return [*own, *organisations_for(user).values_list("uscc", flat=True)]


def represented_with_agents(user: User) -> list[Organisation]:
    """Organisations the user is legal representative of, each with ``active_agents`` prefetched."""
    agents = (
        OrganisationAgent.objects.filter(revoked_at__isnull=True)
        .select_related("person")
        .order_by("granted_at")
    )
    return list(
        Organisation.objects.filter(legal_representative_id=user.person_id)
        .prefetch_related(Prefetch("agents", queryset=agents, to_attr="active_agents"))
        .order_by("name")
    )


def staff_permissions(user: User) -> dict[int | None, frozenset[Perm]]:
    """Permissions by department id; key None holds the platform-wide ones. Cached on the user object."""
    cached = getattr(user, "_tongban_perms", None)
    if cached is not None:
        return cached
    perms: dict[int | None, set[Perm]] = {}
    if user.is_authenticated and user.is_active and user.is_civil_servant:
        for department_id, role in StaffRole.objects.filter(user=user).values_list("department_id", "role"):
            key = None if role == StaffRoleName.PLATFORM_ADMIN else department_id
            perms.setdefault(key, set()).update(ROLE_PERMISSIONS[role])
    result = {k: frozenset(v) for k, v in perms.items()}
    user._tongban_perms = result
    return result


def staff_has_perm(user: User, perm: Perm, department: Department | None) -> bool:
    perms = staff_permissions(user)
    if perm in perms.get(None, frozenset()):
        return True
    return department is not None and perm in perms.get(department.pk, frozenset())


def departments_where(user: User, perm: Perm) -> QuerySet[Department]:
    perms = staff_permissions(user)
    if perm in perms.get(None, frozenset()):
        return Department.objects.filter(is_active=True)
    ids = [dept_id for dept_id, granted in perms.items() if dept_id is not None and perm in granted]
    return Department.objects.filter(pk__in=ids)


def staff_roles_of(user: User) -> QuerySet[StaffRole]:
    return (
        StaffRole.objects.filter(user=user).select_related("department").order_by("department__name", "role")
    )


def department_staff(department: Department) -> QuerySet[StaffRole]:
    return (
        StaffRole.objects.filter(department=department)
        .select_related("user")
        .order_by("user__display_name", "role")
    )


def audit_events_visible_in(events: QuerySet, departments: QuerySet[Department]) -> QuerySet:
    """What a department's auditors see: events about the department and events by its own staff
    (their logins, failures and lockouts carry no department)."""
    staff_ids = StaffRole.objects.filter(department__in=departments).values("user_id")
    return events.filter(Q(department__in=departments) | Q(actor_id__in=staff_ids))


# ---- a person's consent to a system acting for them ----------------------------------------------------


def _live_authorisations(client: SystemClient, scope: str) -> QuerySet[AccessToken]:
    """People's OpenID Connect authorisations, still live, of a system of ``client``'s department for a
    scope: an access token issued to a person through the consent page (never a trusted client that
    skips it) that has not expired, or whose refresh token is neither revoked nor past its lifetime.
    Revoking the token (``/o/revoke_token/``) or letting it lapse withdraws the consent."""
    now = timezone.now()
    refresh_life = refresh_token_expire_timedelta() or dt.timedelta(0)
    return AccessToken.objects.filter(
        Q(expires__gt=now)
        | Q(refresh_token__isnull=False, refresh_token__revoked__isnull=True, expires__gt=now - refresh_life),
        user__isnull=False,
        user__is_active=True,
        user__account_type=AccountType.PUBLIC,
        application__skip_authorization=False,
        application__system_client__department_id=client.department_id,
        scope__contains=scope,
    )


def _has_scope(token_scope: str, scope: str) -> bool:
    return scope in token_scope.split()


def client_has_consent(*, user: User, client: SystemClient, scope: str) -> bool:
    """The person behind ``user`` authorised ``client``'s department's systems for ``scope`` (see
    _live_authorisations): what a system needs before it files or corrects an application for them."""
    scopes = _live_authorisations(client, scope).filter(user=user).values_list("scope", flat=True)
    return any(_has_scope(s, scope) for s in scopes)


def client_consent_for_organisation(
    *, organisation: Organisation, client: SystemClient, scope: str
) -> User | None:
    """Who authorised ``client``'s department's systems for ``scope`` on behalf of ``organisation``: the
    account of its legal representative or of a valid agent (the delegations the platform knows) with a
    live authorisation, the most recent first; None when nobody did."""
    agents = valid_agencies().filter(organisation=organisation).values("person_id")
    tokens = (
        _live_authorisations(client, scope)
        .filter(Q(user__person_id=organisation.legal_representative_id) | Q(user__person_id__in=agents))
        .select_related("user__person")
        .order_by("-created", "-id")
    )
    return next((t.user for t in tokens if _has_scope(t.scope, scope)), None)
