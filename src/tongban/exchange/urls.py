from django.urls import path

from . import views

app_name = "exchange"
urlpatterns = [
    path("staff/exchange/", views.catalogue, name="catalogue"),
    path("staff/exchange/resources/<slug:code>/", views.resource_detail, name="resource"),
    path("staff/exchange/resources/<slug:code>/subscribe/", views.resource_subscribe, name="subscribe"),
    path("staff/exchange/requests/", views.requests_desk, name="requests"),
    path("staff/exchange/requests/<str:number>/", views.request_detail, name="request"),
    path("staff/exchange/grants/", views.grants, name="grants"),
    path("staff/exchange/grants/<int:pk>/", views.grant_action, name="grant_action"),
    path("staff/exchange/subscriptions/", views.subscriptions, name="subscriptions"),
    path("staff/exchange/subscriptions/<int:pk>/", views.subscription_cancel, name="subscription_cancel"),
    path("staff/exchange/audit/", views.audit_log, name="audit"),
    path("my/data-usage/", views.data_usage, name="data_usage"),
]
