from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import codes, registry
from .constants import AuditEventType
from .models import AuditEvent, CalendarDay, CalendarYear, OutboxMessage
from .services import calendar_day_set


class EventTypeFilter(admin.SimpleListFilter):
    # The column has no choices (new types need no migration), so the filter lists the constants.
    title = _("事件")
    parameter_name = "event_type"

    def lookups(self, request, model_admin):  # type: ignore[no-untyped-def]
        return AuditEventType.choices

    def queryset(self, request, queryset):  # type: ignore[no-untyped-def]
        return queryset.filter(event_type=self.value()) if self.value() else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit trail is appended by services, never edited."""

    list_display = ("at", "event_label", "outcome", "actor_label", "ip_address", "department", "target_type")
    list_filter = (EventTypeFilter, "outcome", "department")
    search_fields = ("actor_label", "target_id", "request_id")
    date_hierarchy = "at"

    @admin.display(description=_("事件"), ordering="event_type")
    def event_label(self, obj: AuditEvent) -> str:
        return obj.get_event_type_display()

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(CalendarYear)
class CalendarYearAdmin(admin.ModelAdmin):
    list_display = ("year", "status", "source", "updated_at")
    actions = ["mark_official"]

    @admin.action(description=_("标记为国务院已公布（正式）"))
    def mark_official(self, request, queryset):  # type: ignore[no-untyped-def]
        for year in queryset:
            first = CalendarDay.objects.filter(date__year=year.year).first()
            if first is not None:
                calendar_day_set(
                    acting_user=request.user,
                    date=first.date,
                    is_workday=first.is_workday,
                    name=first.name,
                    official=True,
                )


@admin.register(CalendarDay)
class CalendarDayAdmin(admin.ModelAdmin):
    """Holidays and make-up working days; saving goes through the service (audited, reloads the calendar)."""

    list_display = ("date", "is_workday", "name")
    list_filter = ("is_workday",)
    date_hierarchy = "date"

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        try:
            calendar_day_set(
                acting_user=request.user, date=obj.date, is_workday=obj.is_workday, name=obj.name
            )
        except ValueError as exc:
            self.message_user(request, str(exc), level="error")

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    """Messages to staff as the operators need to see them: what is waiting, what failed and why. Read-only
    but for sending a given-up message again; recipients are masked."""

    list_display = ("created_at", "channel", "masked_recipient", "sent_at", "attempts", "last_error")
    list_filter = ("channel", ("sent_at", admin.EmptyFieldListFilter))
    date_hierarchy = "created_at"
    fields = (
        "channel",
        "masked_recipient",
        "subject",
        "text",
        "created_at",
        "next_attempt_at",
        "sent_at",
        "attempts",
        "last_error",
    )
    readonly_fields = fields
    actions = ["send_again"]

    @admin.display(description=_("接收方"))
    def masked_recipient(self, obj: OutboxMessage) -> str:
        name, at, domain = obj.recipient.partition("@")
        if at:
            return f"{name[:1]}***@{domain}"
        return codes.mask_phone(obj.recipient)

    @admin.action(description=_("重新发送所选的未发出消息"), permissions=["resend"])
    def send_again(self, request, queryset):  # type: ignore[no-untyped-def]
        count = queryset.filter(sent_at__isnull=True).update(attempts=0, next_attempt_at=timezone.now())
        self.message_user(request, _("%(n)d 条消息将重新发送。") % {"n": count})

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_resend_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return request.user.has_perm("core.change_outboxmessage")

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


def plugin_health(request: HttpRequest) -> HttpResponse:
    """/admin/plugins/: each configured plugin (core.registry) and what its check_config() found. Served
    through ``admin.site.admin_view``: staff with the second factor only."""
    context = {
        **admin.site.each_context(request),
        "title": _("插件状态"),
        "plugins": registry.health(),
    }
    return TemplateResponse(request, "core/plugin_health.html", context)
