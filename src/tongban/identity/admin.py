from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import Area, Department, Organisation, OrganisationAgent, Person, StaffRole, SystemClient, User


@admin.register(Area)
class AreaAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "level", "parent")
    list_filter = ("level",)
    search_fields = ("code", "name")


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "sector", "level", "area", "uscc", "is_active")
    list_filter = ("level", "sector", "is_active")
    search_fields = ("name", "code", "uscc")
    autocomplete_fields = ("area", "parent")


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ("name", "masked_id_number", "real_name_level", "created_at")
    list_filter = ("real_name_level",)
    search_fields = ("name", "=id_number")


class StaffRoleInline(admin.TabularInline):
    model = StaffRole
    fk_name = "user"
    extra = 0
    autocomplete_fields = ("department",)
    readonly_fields = ("granted_by", "granted_at")


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "display_name", "account_type", "is_active", "is_staff", "last_login")
    list_filter = ("account_type", "is_active", "is_staff")
    search_fields = ("=username", "display_name", "=phone")
    ordering = ("username",)
    readonly_fields = ("uuid", "last_login", "date_joined")
    autocomplete_fields = ("person",)
    inlines = [StaffRoleInline]
    fieldsets = (
        (None, {"fields": ("username", "password", "uuid")}),
        ("账号", {"fields": ("account_type", "display_name", "person", "phone", "email")}),
        ("权限", {"fields": ("is_active", "is_staff", "is_superuser")}),
        ("时间", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"fields": ("username", "account_type", "display_name", "password1", "password2")}),
    )
    filter_horizontal = ()


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ("name", "uscc", "org_type", "verification")
    list_filter = ("org_type", "verification")
    search_fields = ("name", "=uscc")
    autocomplete_fields = ("legal_representative", "area")


@admin.register(OrganisationAgent)
class OrganisationAgentAdmin(admin.ModelAdmin):
    list_display = ("organisation", "person", "valid_until", "revoked_at")
    autocomplete_fields = ("organisation", "person", "granted_by")


@admin.register(SystemClient)
class SystemClientAdmin(admin.ModelAdmin):
    list_display = ("application", "department", "allowed_scopes", "created_at")
    autocomplete_fields = ("department",)
