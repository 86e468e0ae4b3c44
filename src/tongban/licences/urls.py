from django.urls import path

from . import views

app_name = "licences"
urlpatterns = [
    path("licences/verify/", views.verify_page, name="verify"),
    path("licences/show/<str:token>/", views.shown, name="shown"),
    path("licences/shared/<str:token>/", views.shared, name="shared"),
    path("my/licences/", views.wallet, name="wallet"),
    path("my/licences/<int:pk>/", views.wallet_detail, name="wallet_detail"),
    path("my/licences/<int:pk>/download/<str:kind>/", views.wallet_download, name="wallet_download"),
    path("my/licences/<int:pk>/share/", views.wallet_share, name="wallet_share"),
    path("my/licences/shares/<int:share_id>/revoke/", views.wallet_share_revoke, name="wallet_share_revoke"),
    path("staff/licences/", views.staff_licences, name="staff_list"),
    path("staff/licences/issue/", views.staff_issue, name="staff_issue"),
    path("staff/licences/seals/", views.staff_seals, name="staff_seals"),
    path("staff/licences/<int:pk>/", views.staff_detail, name="staff_detail"),
]
