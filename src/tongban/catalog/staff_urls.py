from django.urls import path

from . import staff_views as views

app_name = "catalog_staff"

urlpatterns = [
    path("", views.item_list, name="list"),
    path("new/", views.item_new, name="new"),
    path("items/<int:pk>/", views.item_detail, name="item"),
    path("versions/<int:pk>/edit/", views.version_edit, name="version_edit"),
    path("versions/<int:pk>/<slug:action>/", views.version_action, name="version_action"),
    path("import/", views.import_view, name="import"),
    path("export.<str:fmt>", views.export_view, name="export"),
    path("events/new/", views.life_event_edit, name="event_new"),
    path("events/<slug:code>/", views.life_event_edit, name="event_edit"),
]
