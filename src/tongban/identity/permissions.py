"""What each staff role may do. A role is held in one department and applies to that department only;
the platform administrator's role applies everywhere. Later capabilities add their permissions here."""

from __future__ import annotations

from enum import StrEnum

from .constants import StaffRoleName


class Perm(StrEnum):
    CASE_VIEW = "case.view"
    CASE_ACCEPT = "case.accept"
    CASE_REVIEW = "case.review"
    CASE_DECIDE = "case.decide"
    CATALOG_EDIT = "catalog.edit"
    CATALOG_PUBLISH = "catalog.publish"
    STAFF_MANAGE = "staff.manage"
    AUDIT_VIEW = "audit.view"
    DATA_VIEW = "data.view"
    DATA_MANAGE = "data.manage"
    LICENCE_ISSUE = "licence.issue"
    SEAL_MANAGE = "seal.manage"
    PLATFORM_MANAGE = "platform.manage"


ROLE_PERMISSIONS: dict[str, frozenset[Perm]] = {
    StaffRoleName.INTAKE_CLERK: frozenset({Perm.CASE_VIEW, Perm.CASE_ACCEPT}),
    StaffRoleName.REVIEWER: frozenset({Perm.CASE_VIEW, Perm.CASE_REVIEW}),
    StaffRoleName.APPROVER: frozenset({Perm.CASE_VIEW, Perm.CASE_DECIDE, Perm.LICENCE_ISSUE}),
    StaffRoleName.DEPARTMENT_ADMIN: frozenset(
        {Perm.STAFF_MANAGE, Perm.AUDIT_VIEW, Perm.CATALOG_EDIT, Perm.LICENCE_ISSUE, Perm.SEAL_MANAGE}
    ),
    StaffRoleName.DATA_OFFICER: frozenset({Perm.DATA_VIEW, Perm.DATA_MANAGE}),
    StaffRoleName.PLATFORM_ADMIN: frozenset(Perm),
}

# Roles that only a platform administrator may grant.
PLATFORM_ONLY_ROLES = frozenset({StaffRoleName.PLATFORM_ADMIN})
