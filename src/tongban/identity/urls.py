from django.urls import path

from . import views

app_name = "identity"

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("register/", views.register_view, name="register"),
    path("register/verify/", views.register_verify_view, name="register_verify"),
    path("password/reset/", views.password_reset_view, name="password_reset"),
    path(
        "password/reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("password/change/", views.PasswordChangeView.as_view(), name="password_change"),
    path("account/", views.account_view, name="account"),
    path("account/acting/", views.acting_switch_view, name="acting_switch"),
    path("account/organisations/new/", views.organisation_register_view, name="organisation_register"),
    path("account/organisations/<uuid:org_uuid>/agents/new/", views.agent_grant_view, name="agent_grant"),
    path("account/agents/<int:agent_id>/revoke/", views.agent_revoke_view, name="agent_revoke"),
    path("staff/login/", views.staff_login_view, name="staff_login"),
    path("staff/login/enrol/", views.staff_enrol_view, name="staff_enrol"),
    path("staff/", views.staff_home_view, name="staff_home"),
    path("staff/departments/<slug:code>/", views.department_staff_view, name="department_staff"),
    path("staff/roles/<int:role_id>/revoke/", views.role_revoke_view, name="role_revoke"),
    path("staff/audit/", views.audit_log_view, name="audit_log"),
]
