"""The journey through the pages: apply, follow, correct, track; the staff workbench."""

import datetime as dt
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from tongban.cases import drafts
from tongban.cases.constants import CaseStatus
from tongban.cases.demo import DEMO_PDF
from tongban.cases.documents import EICAR
from tongban.cases.models import Case, CaseDocument, CaseTask, Draft
from tongban.core.constants import AuditEventType
from tongban.core.models import AuditEvent
from tongban.identity.tests.factories import ROLE, UserFactory
from tongban.testing import staff_client

from .conftest import citizen_client, pdf

pytestmark = pytest.mark.django_db


def apply(client, city, **answers):
    """Fill the form and go on to the summary (the draft is saved on the way)."""
    url = f"/services/items/{city['food'].implementation_code}/apply/"
    page = client.get(url)
    data = {"action": "next", "shop_name": "临江味道", "seats": "40", "material:layout": pdf(), **answers}
    return page, url, client.post(url, data)


def submit(client, city, **answers):
    _page, url, response = apply(client, city, **answers)
    assert response.status_code == 302 and response["Location"] == url + "review/", response.content.decode()
    return client.post(url + "review/")


def test_apply_prefilled_errors_and_double_click(city):
    client = citizen_client(city)
    page, url, response = apply(client, city, seats="很多")
    body = page.content.decode()
    assert city["citizen"].person.name in body and "已自动填写" in body
    assert response.status_code == 200 and "“餐位数”请填写 0–10000 之间的整数。" in response.content.decode()
    assert 'value="临江味道"' in response.content.decode()  # nothing typed is lost
    assert "已上传：平面图.pdf" in response.content.decode()  # nor the file: it is in the draft
    fixed = client.post(url, {"action": "next", "shop_name": "临江味道", "seats": "40"})
    assert fixed["Location"] == url + "review/"
    summary = client.get(url + "review/").content.decode()
    assert "临江味道" in summary and "平面图.pdf" in summary and city["citizen"].person.name in summary
    first = client.post(url + "review/")  # a double click on 确认并提交
    second = client.post(url + "review/")
    assert first.status_code == 302 and Case.objects.count() == 1
    assert second["Location"] == "/my/cases/"  # the draft is gone: nothing to submit twice
    case = Case.objects.get()
    assert case.documents.get().original_name == "平面图.pdf" and not Draft.objects.exists()
    detail = client.get(first["Location"]).content.decode()
    assert case.number in detail and case.query_code in detail and "等待市市场监管局受理" in detail


def test_draft_saved_resumed_and_discarded(city, django_capture_on_commit_callbacks):
    client = citizen_client(city)
    url = f"/services/items/{city['food'].implementation_code}/apply/"
    saved = client.post(url, {"action": "save", "shop_name": "临江味道", "material:layout": pdf()})
    assert saved.status_code == 302 and not Case.objects.exists()
    draft = Draft.objects.get(applicant=city["citizen"])
    assert draft.answers["shop_name"] == "临江味道" and draft.documents.get().material_code == "layout"
    resumed = client.get(url).content.decode()
    assert 'value="临江味道"' in resumed and "已上传：平面图.pdf" in resumed and "草稿保存于" in resumed
    mine = client.get("/my/cases/").content.decode()
    assert "未提交的草稿" in mine and draft.title in mine
    # A second save replaces the file; another citizen cannot discard it.
    client.post(url, {"action": "save", "shop_name": "临江味道", "material:layout": pdf("new.pdf")})
    assert [d.original_name for d in draft.documents.all()] == ["new.pdf"]
    stored = draft.documents.get().file.path
    other = Client()
    other.force_login(UserFactory())
    assert other.post(f"/my/drafts/{draft.pk}/discard/").status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/my/drafts/{draft.pk}/discard/")
    assert not Draft.objects.exists() and not CaseDocument.objects.exists()
    assert not Path(stored).exists()


def test_old_drafts_are_purged(city):
    client = citizen_client(city)
    url = f"/services/items/{city['food'].implementation_code}/apply/"
    client.post(url, {"action": "save", "shop_name": "临江味道"})
    assert drafts.drafts_purge() == 0
    Draft.objects.update(updated_at=timezone.now() - dt.timedelta(days=drafts.DRAFT_DAYS + 1))
    assert drafts.drafts_purge() == 1 and not Draft.objects.exists()


def test_public_lookup_shows_progress_without_personal_data(city):
    client = citizen_client(city)
    submit(client, city)
    case = Case.objects.get()
    body = Client().get("/track/", {"number": case.number, "code": case.query_code.lower()}).content.decode()
    assert "待受理" in body and "食品经营许可" in body
    for private in (city["citizen"].person.name, city["citizen"].person.id_number, "临江味道"):
        assert private not in body
    assert "不正确" in Client().get("/track/", {"number": case.number, "code": "WRONG1"}).content.decode()


def test_staff_journey_with_masking_claim_conflict_and_correction(city):
    client = citizen_client(city)
    submit(client, city)
    case = Case.objects.get()
    clerk = staff_client(city["staff"][("ljs-scjgj", ROLE.INTAKE_CLERK)])
    queue = clerk.get("/staff/cases/?queue=accept").content.decode()
    assert case.number in queue
    page = clerk.get(f"/staff/cases/{case.number}/").content.decode()
    assert city["citizen"].person.id_number in page  # intake verifies identity: full number
    task = CaseTask.objects.get(case=case, step_key="accept")
    clerk.post(f"/staff/cases/{case.number}/tasks/{task.pk}/claim/")
    assert CaseTask.objects.get(pk=task.pk).claimed_by == city["staff"][("ljs-scjgj", ROLE.INTAKE_CLERK)]
    response = clerk.post(
        f"/staff/cases/{case.number}/tasks/{task.pk}/act/",
        {"action": "accept", "lock_version": "0"},
        follow=True,
    )
    assert "已办理" in response.content.decode()
    stale = clerk.post(
        f"/staff/cases/{case.number}/tasks/{task.pk}/act/",
        {"action": "refuse", "reason": "x", "lock_version": "0"},
        follow=True,
    )
    assert "已被他人处理" in stale.content.decode()
    reviewer = staff_client(city["staff"][("ljs-scjgj", ROLE.REVIEWER)])
    page = reviewer.get(f"/staff/cases/{case.number}/").content.decode()
    assert city["citizen"].person.id_number not in page  # reviewers see it masked
    assert city["citizen"].person.masked_id_number in page
    review = CaseTask.objects.get(case=case, step_key="review")
    reviewer.post(f"/staff/cases/{case.number}/comment/", {"text": "请消防同事重点看后厨"})
    reviewer.post(
        f"/staff/cases/{case.number}/tasks/{review.pk}/act/",
        {
            "action": "correction",
            "reason": "材料不全",
            "correction_items": "平面布局图\n健康证明",
            "lock_version": str(review.lock_version),
        },
    )
    assert Case.objects.get().status == CaseStatus.CORRECTION
    detail = client.get(f"/my/cases/{case.number}/").content.decode()
    assert "平面布局图" in detail and "健康证明" in detail and "请消防同事" not in detail
    client.post(f"/my/cases/{case.number}/correct/", {"shop_name": "临江味道", "seats": "30"})
    assert Case.objects.get().status == CaseStatus.IN_PROGRESS


def test_other_departments_cannot_open_the_case(city):
    submit(citizen_client(city), city)
    case = Case.objects.get()
    outsider = staff_client(city["staff"][("ljs-wjw", ROLE.INTAKE_CLERK)])
    assert outsider.get(f"/staff/cases/{case.number}/").status_code == 404
    task = CaseTask.objects.get(case=case, step_key="accept")
    assert (
        outsider.post(f"/staff/cases/{case.number}/tasks/{task.pk}/act/", {"action": "accept"}).status_code
        == 404
    )
    assert Case.objects.get().status == CaseStatus.SUBMITTED


def test_withdraw_through_the_page(city):
    client = citizen_client(city)
    submit(client, city)
    case = Case.objects.get()
    client.post(f"/my/cases/{case.number}/withdraw/", {"reason": "不开了"})
    assert Case.objects.get().status == CaseStatus.WITHDRAWN
    assert Client().get(f"/my/cases/{case.number}/").status_code == 302  # login required


@pytest.mark.parametrize(
    ("upload", "words"),
    [
        (None, "请上传“经营场所平面布局图”"),
        (lambda: pdf("plan.docx", b"PK\x03\x04"), "只接受 PDF、PNG 格式"),
        (lambda: pdf("plan.pdf", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64), "内容与扩展名 .pdf 不符"),
        (lambda: pdf("plan.pdf", b"%PDF-1.4\n" + b"0" * (1024 * 1024 + 10)), "不能超过 1MB"),
        (lambda: pdf("plan.pdf", b"%PDF-1.4\n" + EICAR), "未通过病毒扫描"),
    ],
)
def test_bad_uploads_are_refused_and_the_rest_is_kept(city, upload, words):
    client = citizen_client(city)
    data = {"action": "next", "shop_name": "临江味道", "seats": "40"}
    if upload is not None:
        data["material:layout"] = upload()
    body = client.post(f"/services/items/{city['food'].implementation_code}/apply/", data).content.decode()
    assert words in body and 'value="临江味道"' in body
    assert not Case.objects.exists() and not CaseDocument.objects.exists()  # the bad file is not stored
    assert Draft.objects.get().answers["shop_name"] == "临江味道"  # what was typed is


def test_staff_read_materials_through_an_audited_view(city):
    submit(citizen_client(city), city)
    case = Case.objects.get()
    document = CaseDocument.objects.get(case=case)
    assert document.content_type == "application/pdf" and document.scan_status == "clean"
    assert not document.file.name.endswith(".pdf")  # stored under a random name, outside the web root
    clerk = staff_client(city["staff"][("ljs-scjgj", ROLE.INTAKE_CLERK)])
    response = clerk.get(f"/staff/cases/{case.number}/documents/{document.uuid}/")
    assert response.status_code == 200 and b"".join(response.streaming_content) == DEMO_PDF
    assert "attachment" in response["Content-Disposition"]
    assert AuditEvent.objects.filter(event_type=AuditEventType.DOCUMENT_READ).count() == 1
    outsider = staff_client(city["staff"][("ljs-wjw", ROLE.INTAKE_CLERK)])
    assert outsider.get(f"/staff/cases/{case.number}/documents/{document.uuid}/").status_code == 404
    assert Client().get(f"/staff/cases/{case.number}/documents/{document.uuid}/").status_code == 302


def test_batch_accept_checks_each_task(city):
    from tongban.cases import services

    from .conftest import food_answers, layout

    cases = [
        services.case_submit(
            applicant=city["citizen"], item=city["food"], answers=food_answers(), uploads=layout()
        )
        for _ in range(3)
    ]
    tasks = [CaseTask.objects.get(case=c, step_key="accept") for c in cases]
    clerk_user = city["staff"][("ljs-scjgj", ROLE.INTAKE_CLERK)]
    clerk = staff_client(clerk_user)
    queue = clerk.get("/staff/cases/?queue=accept").content.decode()
    assert f'value="{tasks[0].pk}:0"' in queue and "批量受理所选办件" in queue
    # Meanwhile a colleague accepts the second case: the page's lock_version is now stale.
    services.task_act(actor=clerk_user, task=tasks[1], action="accept")
    outsider_task = CaseTask.objects.create(
        case=cases[2],
        step_key="other",
        name="x",
        kind="accept",
        department=city["fire"],
        role=ROLE.INTAKE_CLERK,
        status="open",
    )
    response = clerk.post(
        "/staff/cases/batch/",
        {"queue": "accept", "task": [f"{t.pk}:0" for t in tasks] + [f"{outsider_task.pk}:0"]},
        follow=True,
    )
    body = response.content.decode()
    assert "已批量办理 2 件" in body  # the first and the third
    assert f"{cases[1].number} 未办理" in body and "已被他人处理" in body
    assert "没有“x”的办理权限" in body  # a task of another department, though the case is in view
    statuses = {c.number: Case.objects.get(pk=c.pk).status for c in cases}
    assert set(statuses.values()) == {CaseStatus.IN_PROGRESS}
    assert CaseTask.objects.get(pk=outsider_task.pk).status == "open"
    # Reasoned actions are never batched.
    refused = clerk.post(
        "/staff/cases/batch/", {"queue": "refuse", "task": [f"{tasks[0].pk}:1"]}, follow=True
    )
    assert "请先勾选要办理的办件" in refused.content.decode()


def test_a_colleague_cannot_act_on_or_take_a_claimed_step(city):
    from tongban.identity.tests.factories import StaffFactory

    submit(citizen_client(city), city)
    case = Case.objects.get()
    task = CaseTask.objects.get(case=case, step_key="accept")
    clerk = staff_client(city["staff"][("ljs-scjgj", ROLE.INTAKE_CLERK)])
    assert (
        "已认领"
        in clerk.post(f"/staff/cases/{case.number}/tasks/{task.pk}/claim/", follow=True).content.decode()
    )
    colleague = staff_client(StaffFactory(roles=[(city["market"], ROLE.INTAKE_CLERK)], totp=True))
    taken = colleague.post(f"/staff/cases/{case.number}/tasks/{task.pk}/claim/", follow=True)
    assert taken.status_code == 200 and "该环节已被认领或已办理。" in taken.content.decode()
    acted = colleague.post(
        f"/staff/cases/{case.number}/tasks/{task.pk}/act/",
        {"action": "accept", "lock_version": "0"},
        follow=True,
    )
    name = city["staff"][("ljs-scjgj", ROLE.INTAKE_CLERK)].display_name
    assert acted.status_code == 200 and f"该环节已由 {name} 认领。" in acted.content.decode()
    released = colleague.post(
        f"/staff/cases/{case.number}/tasks/{task.pk}/claim/", {"release": "1"}, follow=True
    )
    assert "该环节不是由您认领的。" in released.content.decode()
    assert CaseTask.objects.get(pk=task.pk).status == "open"
    empty = colleague.post(f"/staff/cases/{case.number}/comment/", {"text": "  "}, follow=True)
    assert "请填写留言内容。" in empty.content.decode()
    assert AuditEvent.objects.filter(
        event_type=AuditEventType.CASE_ACTION, extra_data__action="claim", actor__display_name=name
    ).exists()
