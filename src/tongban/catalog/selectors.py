"""Catalogue reads for the portal, the API and the workbench."""

from __future__ import annotations

from django.db.models import Count, F, Prefetch, Q, QuerySet

from tongban.identity.models import Area, Department, User
from tongban.identity.permissions import Perm
from tongban.identity.selectors import departments_where, staff_has_perm

from .constants import Audience, StepKind, VersionStatus
from .models import LifeEvent, Material, SearchDocument, ServiceItem, ServiceItemVersion, Theme


def published_items() -> QuerySet[ServiceItem]:
    return (
        ServiceItem.objects.filter(published_version__isnull=False)
        .select_related("published_version", "department__area")
        .order_by("-popularity", "implementation_code")
    )


def published_item(implementation_code: str) -> ServiceItem | None:
    return (
        published_items()
        .prefetch_related(
            Prefetch("published_version__materials", queryset=Material.objects.order_by("position", "id")),
            "published_version__themes",
        )
        .filter(implementation_code=implementation_code)
        .first()
    )


def items_for_browse(
    *, audience: str | None = None, theme: str | None = None, department: Department | None = None
) -> QuerySet[ServiceItem]:
    qs = published_items()
    if audience:
        applicant = "person" if audience == Audience.PERSON else "organisation"
        # JSON "contains" differs between SQLite and PostgreSQL; the search document keeps a plain string.
        qs = qs.filter(
            pk__in=SearchDocument.objects.filter(
                kind="item", applicant_types__contains=f" {applicant} "
            ).values("object_id")
        )
    if theme:
        qs = qs.filter(published_version__themes__code=theme)
    if department is not None:
        qs = qs.filter(department=department)
    return qs


def themes_for(audience: str) -> QuerySet[Theme]:
    return Theme.objects.filter(audience=audience).annotate(
        items=Count("item_versions", filter=Q(item_versions__status=VersionStatus.PUBLISHED))
    )


def departments_with_items() -> QuerySet[Department]:
    return (
        Department.objects.filter(service_items__published_version__isnull=False)
        .annotate(items=Count("service_items", filter=Q(service_items__published_version__isnull=False)))
        .select_related("area")
        .order_by("area__code", "code")
    )


def areas_with_items() -> QuerySet[Area]:
    """Areas whose departments publish items: the choices of the search page's area filter."""
    return Area.objects.filter(departments__service_items__published_version__isnull=False).distinct()


def published_life_events(audience: str | None = None) -> QuerySet[LifeEvent]:
    qs = LifeEvent.objects.filter(status=VersionStatus.PUBLISHED).order_by("-popularity", "code")
    return qs.filter(audience=audience) if audience else qs


def life_event(code: str) -> LifeEvent | None:
    return published_life_events().prefetch_related("themes").filter(code=code).first()


def workflow_stages(version: ServiceItemVersion) -> list[list[dict]]:
    """The workflow as stages for display: steps that wait for the same stage run in parallel (并联)."""
    steps = version.workflow.get("steps", [])
    departments = {
        d.code: d.short_name for d in Department.objects.filter(code__in=[s.get("department") for s in steps])
    }
    depth: dict[str, int] = {}

    def level(step: dict) -> int:
        if step["key"] not in depth:
            depth[step["key"]] = 1 + max((level(by_key[k]) for k in step.get("after", [])), default=-1)
        return depth[step["key"]]

    by_key = {s["key"]: s for s in steps}
    stages: list[list[dict]] = []
    for step in steps:
        n = level(step)
        while len(stages) <= n:
            stages.append([])
        department = step.get("department", "$self")
        stages[n].append(
            {
                **step,
                "kind_label": StepKind(step["kind"]).label,
                "department_name": version.item.department.short_name
                if department == "$self"
                else departments.get(department, department),
            }
        )
    return stages


def item_viewed(item: ServiceItem) -> None:
    """Popularity counts guide views (later: applications too); a cheap UPDATE, no read-modify-write."""
    ServiceItem.objects.filter(pk=item.pk).update(popularity=F("popularity") + 1)
    SearchDocument.objects.filter(kind="item", object_id=item.pk).update(popularity=F("popularity") + 1)


def life_event_viewed(event: LifeEvent) -> None:
    LifeEvent.objects.filter(pk=event.pk).update(popularity=F("popularity") + 1)
    SearchDocument.objects.filter(kind="event", object_id=event.pk).update(popularity=F("popularity") + 1)


# ---- workbench --------------------------------------------------------------------------------------


def items_for_editor(user: User) -> QuerySet[ServiceItem]:
    """Items the staff member may edit or review, newest first, with their latest version annotated."""
    qs = ServiceItem.objects.select_related("department", "published_version")
    if not staff_has_perm(user, Perm.CATALOG_PUBLISH, None):
        qs = qs.filter(department__in=departments_where(user, Perm.CATALOG_EDIT))
    return qs.order_by("department__code", "implementation_code")


def versions_awaiting_review(user: User) -> QuerySet[ServiceItemVersion]:
    if not staff_has_perm(user, Perm.CATALOG_PUBLISH, None):
        return ServiceItemVersion.objects.none()
    return (
        ServiceItemVersion.objects.filter(status=VersionStatus.REVIEW)
        .select_related("item__department", "created_by")
        .order_by("submitted_at")
    )
