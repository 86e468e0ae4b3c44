from django.contrib import admin
from django.urls import include, path
from django.views.i18n import set_language
from oauth2_provider import urls as oauth2_urls

from tongban.api import api
from tongban.core.admin import plugin_health
from tongban.identity.lockout import client_auth_guard
from tongban.identity.views import ConsentAuthorizationView, GuardedAdminSite

# The operators' admin requires the staff second factor too, and its login is throttled like the staff login.
admin.site.__class__ = GuardedAdminSite
admin.site.site_header = "通办 Tongban 运维后台"
admin.site.site_title = "通办 Tongban"

oidc_patterns = [
    path("authorize/", ConsentAuthorizationView.as_view(), name="authorize"),
    # Token, revocation and introspection only: no device flow, no self-service app management.
    # Each checks a client secret: an address that keeps failing is refused for a while (identity.lockout).
    *[
        path(str(p.pattern), client_auth_guard(p.callback), name=p.name)
        for p in oauth2_urls.base_urlpatterns
        if p.name in {"token", "revoke-token", "introspect"}
    ],
    *oauth2_urls.oidc_urlpatterns,
]

urlpatterns = [
    # First: system clients call the API at rates where trying every page pattern before it shows.
    path("api/", api.urls),
    path("", include("tongban.portal.urls")),
    path("", include("tongban.identity.urls")),
    path("", include("tongban.cases.urls")),
    path("", include("tongban.licences.urls")),
    path("", include("tongban.registries.urls")),
    path("", include("tongban.exchange.urls")),
    path("services/", include("tongban.catalog.urls")),
    path("staff/catalogue/", include("tongban.catalog.staff_urls")),
    path("o/", include((oidc_patterns, "oauth2_provider"), namespace="oauth2_provider")),
    path("i18n/setlang/", set_language, name="set_language"),
    path("admin/plugins/", admin.site.admin_view(plugin_health), name="plugin-health"),
    path("admin/", admin.site.urls),
]

handler403 = "tongban.portal.views.forbidden"
handler404 = "tongban.portal.views.not_found"
handler500 = "tongban.portal.views.server_error"
