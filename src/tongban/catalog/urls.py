from django.urls import path

from . import views

app_name = "catalog"

urlpatterns = [
    path("", views.browse, name="browse"),
    path("search/", views.search_page, name="search"),
    path("suggest/", views.suggest, name="suggest"),
    path("items/<str:code>/", views.guide, name="guide"),
    path("events/<slug:code>/", views.life_event_guide, name="life_event"),
    path("departments/<slug:code>/", views.department_items, name="department"),
    path("themes/<slug:code>/", views.theme_items, name="theme"),
]
