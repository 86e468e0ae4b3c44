from django.urls import path

from . import views

app_name = "cases"

urlpatterns = [
    path("services/items/<str:code>/apply/", views.apply_item, name="apply"),
    path("services/events/<slug:code>/apply/", views.apply_life_event, name="apply_event"),
    path("services/items/<str:code>/apply/review/", views.review_item, name="review"),
    path("services/events/<slug:code>/apply/review/", views.review_life_event, name="review_event"),
    path("my/drafts/<int:draft_id>/discard/", views.draft_discard, name="draft_discard"),
    path("my/cases/", views.my_cases, name="mine"),
    path("my/cases/<str:number>/", views.my_case_detail, name="mine_detail"),
    path("my/cases/<str:number>/correct/", views.my_case_correct, name="mine_correct"),
    path("my/cases/<str:number>/withdraw/", views.my_case_withdraw, name="mine_withdraw"),
    path("track/", views.track, name="track"),
    path("staff/cases/", views.workbench, name="workbench"),
    path("staff/cases/report/", views.deadline_report, name="report"),
    path("staff/cases/batch/", views.staff_batch, name="staff_batch"),
    path("staff/cases/<str:number>/", views.staff_case, name="staff_case"),
    path("staff/cases/<str:number>/tasks/<int:task_id>/act/", views.staff_task_act, name="staff_act"),
    path("staff/cases/<str:number>/tasks/<int:task_id>/claim/", views.staff_task_claim, name="staff_claim"),
    path("staff/cases/<str:number>/comment/", views.staff_comment, name="staff_comment"),
    path("staff/cases/<str:number>/documents/<uuid:document>/", views.staff_document, name="staff_document"),
]
