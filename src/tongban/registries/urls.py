from django.urls import path

from . import views

app_name = "registries"
urlpatterns = [
    path("staff/registries/quality/", views.dashboard, name="dashboard"),
    path("staff/registries/issues/", views.ledger, name="ledger"),
    path("staff/registries/issues/<int:issue_id>/", views.issue_action, name="issue_action"),
    path("staff/registries/load/", views.load_page, name="load"),
    path("staff/registries/<slug:code>/run/", views.run_now, name="run_now"),
    path("staff/registries/<slug:code>/", views.record_page, name="record"),
]
