"""Applicant pages (apply, my cases, correct, withdraw), the public lookup, and the staff workbench."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tongban.catalog import selectors as catalog_selectors
from tongban.catalog import services as catalog_services
from tongban.core.constants import AuditEventType
from tongban.core.services import audit_record
from tongban.core.throttle import throttle_client
from tongban.identity.permissions import Perm
from tongban.identity.views import staff_required
from tongban.licences import services as licence_services

from . import drafts, selectors, services
from .constants import (
    BATCH_ACTIONS,
    BATCH_LIMIT,
    STEP_ACTIONS,
    WITHDRAWABLE_STATUSES,
    Action,
    CaseStatus,
    TaskStatus,
)
from .forms import answers_from_post, fields
from .models import Case, CaseDocument, CaseEvent, CaseTask


def _uploads(request: HttpRequest) -> dict:
    uploads = {key.split(":", 1)[1]: f for key, f in request.FILES.items() if key.startswith("material:")}
    if request.FILES.get("upload_file") and request.POST.get("upload_material"):  # the correction form
        uploads[request.POST["upload_material"]] = request.FILES["upload_file"]
    return uploads


def _target(kind: str, code: str) -> dict:
    """What is applied for: the item or bundle, its form schema, page context and materials list."""
    if kind == "item":
        item = catalog_selectors.published_item(code)
        if item is None:
            raise Http404
        version = item.published_version
        return {
            "target": {"item": item},
            "schema": version.form_schema,
            "context": {"title": version.name, "version": version, "item": item},
            "materials": lambda errors: {
                "materials": [(m, errors.get(f"material:{m.code}", "")) for m in version.materials.all()]
            },
        }
    event = catalog_selectors.life_event(code)
    if event is None:
        raise Http404
    merged = catalog_services.merged_form(event)
    return {
        "target": {"life_event": event},
        "schema": merged.schema,
        "context": {"title": event.name, "event": event},
        "materials": lambda errors: {
            "bundle_materials": [(m, errors.get(f"material:{m['code']}", "")) for m in merged.materials]
        },
    }


def _form_page(
    request: HttpRequest, what: dict, draft, values: dict, errors: dict, error: str
) -> HttpResponse:
    known = selectors.prefill(what["schema"], request.user, request.acting_organisation)
    context = {
        **what["context"],
        **what["materials"](errors),
        "held_licences": _held_licence_codes(request, what),
        "draft": draft,
        "saved_files": {d.material_code: d for d in draft.documents.all()} if draft else {},
        "error": error,
        "errors": errors,
        "fields": fields(what["schema"], {**values, **known}, errors, set(known)),
    }
    return render(request, "cases/apply.html", context, status=200)


def _held_licence_codes(request: HttpRequest, what: dict) -> set[str]:
    """The licence types among the item's materials that the applicant holds valid (shown as 免提交)."""
    version = what["context"].get("version")
    wanted = (
        {m.licence_type_code for m in version.materials.all() if m.licence_type_code} if version else set()
    )
    if not wanted:
        return set()
    holders = licence_services.applicant_holder_codes(request.user, request.acting_organisation)
    return set(licence_services.held_licences(holders, wanted))


def _apply(request: HttpRequest, kind: str, code: str) -> HttpResponse:
    """The form: prefilled, then saved as a draft (files included) on every post, so nothing typed or
    uploaded is lost; "save" stays on the form, "next" checks everything and shows the summary."""
    what = _target(kind, code)
    organisation = request.acting_organisation
    draft = drafts.draft_for(request.user, organisation=organisation, **what["target"])
    if request.method != "POST":
        return _form_page(request, what, draft, draft.answers if draft else {}, {}, "")
    known = selectors.prefill(what["schema"], request.user, organisation)
    values = {**answers_from_post(what["schema"], request.POST), **known}
    try:
        draft, problems = drafts.draft_save(
            applicant=request.user,
            answers=values,
            organisation=organisation,
            uploads=_uploads(request),
            **what["target"],
        )
    except services.CaseError as exc:
        return _form_page(request, what, draft, values, exc.problems, exc.message)
    refused = None
    if request.POST.get("action") == "save":
        if not problems:
            messages.success(
                request, _("草稿已保存，可以随时回来继续填写（保留 %(d)d 天）。") % {"d": drafts.DRAFT_DAYS}
            )
            return redirect(request.path)
    else:
        try:
            services.case_check(
                applicant=request.user,
                answers=draft.answers,
                organisation=organisation,
                supplied={d.material_code for d in draft.documents.all()},
                **what["target"],
            )
        except services.CaseError as exc:
            refused = exc
    if problems:
        # What the draft refused (an answer, a file) wins over "请填写"/"请上传" for the same field.
        problems = {**(refused.problems if refused else {}), **problems}
        if all(k.startswith("material:") for k in problems):
            message = _("有 %(n)d 份材料需要重新上传，其余内容已保存。") % {"n": len(problems)}
        else:
            message = _("申请信息有 %(n)d 处需要修改，其余内容已保存。") % {"n": len(problems)}
        return _form_page(request, what, draft, values, problems, message)
    if refused is not None:
        return _form_page(request, what, draft, values, refused.problems, refused.message)
    return redirect(request.path + "review/")


def _review(request: HttpRequest, kind: str, code: str) -> HttpResponse:
    """The summary of the draft; confirming submits it (once, however often it is posted)."""
    what = _target(kind, code)
    organisation = request.acting_organisation
    draft = drafts.draft_for(request.user, organisation=organisation, **what["target"])
    form_url = request.path.removesuffix("review/")
    if draft is None:
        messages.info(request, _("没有待提交的申请；已提交的申请可在“我的办件”查看。"))
        return redirect("cases:mine")
    if request.method == "POST":
        try:
            case = drafts.draft_submit(draft, request=request)
        except services.CaseError as exc:
            return _form_page(request, what, draft, draft.answers, exc.problems, exc.message)
        messages.success(
            request,
            _("申请已提交，办件编号 %(n)s，查询码 %(q)s。") % {"n": case.number, "q": case.query_code},
        )
        return redirect("cases:mine_detail", number=case.number)
    known = selectors.prefill(what["schema"], request.user, organisation)
    summary = [
        f
        for f in fields(what["schema"], {**draft.answers, **known}, {}, set(known))
        if f.value not in ("", [], None)
    ]
    return render(
        request,
        "cases/review.html",
        {**what["context"], "summary": summary, "files": list(draft.documents.all()), "form_url": form_url},
    )


@login_required
def apply_item(request: HttpRequest, code: str) -> HttpResponse:
    return _apply(request, "item", code)


@login_required
def apply_life_event(request: HttpRequest, code: str) -> HttpResponse:
    return _apply(request, "event", code)


@login_required
def review_item(request: HttpRequest, code: str) -> HttpResponse:
    return _review(request, "item", code)


@login_required
def review_life_event(request: HttpRequest, code: str) -> HttpResponse:
    return _review(request, "event", code)


@login_required
@require_POST
def draft_discard(request: HttpRequest, draft_id: int) -> HttpResponse:
    draft = get_object_or_404(drafts.drafts_of(request.user), pk=draft_id)
    drafts.draft_delete(draft)
    messages.success(request, _("草稿已删除。"))
    return redirect("cases:mine")


@login_required
def my_cases(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.cases_of(request.user, request.acting_organisation), 20).get_page(
        request.GET.get("page")
    )
    saved = drafts.drafts_of(request.user).select_related("item", "life_event")
    return render(request, "cases/mine.html", {"page": page, "drafts": saved})


def _my_case(request: HttpRequest, number: str, action: str) -> Case:
    """The case for the applicant pages when ``selectors.applicant_cases`` allows it, else 404 as for a
    number that does not exist (nobody learns that someone else's case is there); a refusal on a case
    that exists is in the audit trail."""
    case = (
        selectors.applicant_cases(request.user)
        .select_related("item_version", "department", "life_event", "organisation")
        .filter(number=number)
        .first()
    )
    if case is None:
        other = Case.objects.filter(number=number).select_related("department").first()
        if other is not None:
            services.applicant_refused(request.user, request, action, other)
        raise Http404
    return case


@login_required
def my_case_detail(request: HttpRequest, number: str) -> HttpResponse:
    case = _my_case(request, number, "view")
    subs = list(case.sub_cases.select_related("department").order_by("id"))
    correcting = [c for c in [case, *subs] if c.status == CaseStatus.CORRECTION and c.item_version_id]
    correction_forms = []
    for c in correcting:
        schema = c.item_version.form_schema
        # The case's organisation, whatever the session acts for: the case is the organisation's.
        known = selectors.prefill(schema, request.user, case.organisation)
        correction_forms.append((c, fields(schema, {**c.answers, **known}, {}, set(known))))
    left, level = services.deadline_state(case)
    return render(
        request,
        "cases/detail.html",
        {
            "case": case,
            "subs": [(s, *services.deadline_state(s)) for s in subs],
            "events": CaseEvent.objects.filter(case__in=[case, *subs], public=True)
            .select_related("case")
            .order_by("at"),
            "correction_forms": correction_forms,
            "left": left,
            "level": level,
            "provisional": selectors.provisional_deadline(case),
            "can_withdraw": case.status in WITHDRAWABLE_STATUSES,
        },
    )


@login_required
@require_POST
def my_case_correct(request: HttpRequest, number: str) -> HttpResponse:
    case = _my_case(request, number, "correct")
    if case.status != CaseStatus.CORRECTION or case.item_version_id is None:
        messages.error(request, _("该办件不需要补正。"))
        return redirect("cases:mine_detail", number=(case.parent or case).number)
    answers = answers_from_post(case.item_version.form_schema, request.POST)
    try:
        services.case_correct(
            applicant=request.user, case=case, answers=answers, uploads=_uploads(request), request=request
        )
    except services.CaseError as exc:
        messages.error(request, exc.message + " " + "；".join(exc.problems.values()))
    else:
        messages.success(request, _("已提交补正，部门将继续办理。"))
    return redirect("cases:mine_detail", number=(case.parent or case).number)


@login_required
@require_POST
def my_case_withdraw(request: HttpRequest, number: str) -> HttpResponse:
    case = _my_case(request, number, "withdraw")
    try:
        services.case_withdraw(
            applicant=request.user, case=case, reason=request.POST.get("reason", ""), request=request
        )
    except services.CaseError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("已撤回申请。"))
    return redirect("cases:mine_detail", number=case.number)


def track(request: HttpRequest) -> HttpResponse:
    """Public lookup by case number and query code: status and public steps, no personal data."""
    case, tried = None, False
    if request.GET.get("number"):
        tried = True
        if not throttle_client(request, "track", limit=30, window_seconds=60):
            messages.error(request, _("查询过于频繁，请稍后再试。"))
        else:
            case = selectors.public_lookup(request.GET["number"], request.GET.get("code", ""))
    events = []
    if case is not None:
        events = CaseEvent.objects.filter(case__in=[case, *case.sub_cases.all()], public=True).order_by("at")
    return render(request, "cases/track.html", {"case": case, "tried": tried, "events": events})


# ---- staff workbench -----------------------------------------------------------------------------------


@staff_required(Perm.CASE_VIEW)
def workbench(request: HttpRequest) -> HttpResponse:
    name = request.GET.get("queue", "accept")
    search = request.GET.get("q", "")[:40]
    if name == "overdue":
        page = Paginator(selectors.overdue(request.user), 30).get_page(request.GET.get("page"))
        rows = [(None, c, *services.deadline_state(c)) for c in page]
    else:
        if name not in selectors.QUEUES:
            name = "accept"
        page = Paginator(selectors.queue(request.user, name, search=search), 30).get_page(
            request.GET.get("page")
        )
        rows = [(t, t.case, *services.deadline_state(t.case)) for t in page]
    return render(
        request,
        "cases/workbench.html",
        {
            "queue": name,
            "rows": rows,
            "page": page,
            "counts": selectors.queue_counts(request.user),
            "q": search,
            "batch_action": BATCH_ACTIONS.get(name),
        },
    )


def _staff_case(request: HttpRequest, number: str) -> Case:
    case = get_object_or_404(
        Case.objects.select_related("item_version", "department", "applicant__person"), number=number
    )
    if not selectors.staff_can_see(request.user, case):
        raise Http404
    return case


def _masked_answers(case: Case, full: bool) -> list[tuple[str, str]]:
    """Applicant data for staff: identity numbers and phones masked unless the step needs them (intake)."""
    properties = case.item_version.form_schema.get("properties", {}) if case.item_version else {}
    return [
        (
            properties.get(name, {}).get("title", name),
            "、".join(value) if isinstance(value, list) else str(value),
        )
        for name, value in selectors.answers_for_step(case, full=full).items()
    ]


@staff_required(Perm.CASE_VIEW)
def staff_case(request: HttpRequest, number: str) -> HttpResponse:
    case = _staff_case(request, number)
    tasks = list(case.tasks.select_related("department", "claimed_by", "completed_by").order_by("id"))
    mine = [t for t in tasks if t.status == TaskStatus.OPEN and services.can_act_on(request.user, t)]
    needs_full = any(t.kind == "accept" for t in mine)
    return render(
        request,
        "cases/staff_case.html",
        {
            "case": case,
            "tasks": tasks,
            "mine": [(t, STEP_ACTIONS[t.kind]) for t in mine],
            "answers": _masked_answers(case, needs_full),
            "events": case.events.select_related("actor", "department"),
            "deadline": services.deadline_state(case),
            "provisional": selectors.provisional_deadline(case),
            "action_labels": dict(Action.choices),
            "documents": case.documents.order_by("created_at"),
            "licences": licence_services.licences_for_case(case),
        },
    )


@staff_required(Perm.CASE_VIEW)
def staff_document(request: HttpRequest, number: str, document: str) -> FileResponse:
    """Materials are read only here: by staff of a department on the case, each read in the audit trail."""
    case = _staff_case(request, number)
    doc = get_object_or_404(CaseDocument, uuid=document, case=case)
    audit_record(
        event_type=AuditEventType.DOCUMENT_READ,
        acting_user=request.user,
        request=request,
        target=doc,
        department=case.department,
        extra_data={"case": case.number, "material": doc.material_code},
    )
    response = FileResponse(
        doc.file.open("rb"), content_type=doc.content_type, as_attachment=True, filename=doc.original_name
    )
    response["Cache-Control"] = "private, no-store"
    return response


@staff_required(Perm.CASE_VIEW)
@require_POST
def staff_task_act(request: HttpRequest, number: str, task_id: int) -> HttpResponse:
    case = _staff_case(request, number)
    task = get_object_or_404(CaseTask.objects.select_related("claimed_by"), pk=task_id, case=case)
    try:
        expected = int(request.POST.get("lock_version", ""))
    except ValueError:
        expected = None
    items = [line for line in request.POST.get("correction_items", "").splitlines() if line.strip()]
    try:
        services.task_act(
            actor=request.user,
            task=task,
            action=request.POST.get("action", ""),
            reason=request.POST.get("reason", ""),
            correction_items=items,
            expected_version=expected,
            request=request,
        )
    except services.CaseError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("已办理。"))
        return redirect(f"/staff/cases/?queue={task.kind}")
    return redirect("cases:staff_case", number=number)


@staff_required(Perm.CASE_VIEW)
@require_POST
def staff_batch(request: HttpRequest) -> HttpResponse:
    """Act on the tasks ticked in a queue: each checked on its own, the outcome of each reported."""
    queue = request.POST.get("queue", "")
    action = BATCH_ACTIONS.get(queue)
    picked: dict[int, int | None] = {}
    for value in request.POST.getlist("task")[: BATCH_LIMIT + 1]:
        task_id, _sep, version = value.partition(":")
        if task_id.isdigit():
            picked[int(task_id)] = int(version) if version.isdigit() else None
    back = redirect(f"/staff/cases/?queue={queue if action else 'accept'}")
    if action is None or not picked:
        messages.error(request, _("请先勾选要办理的办件。"))
        return back
    tasks = CaseTask.objects.filter(pk__in=picked, kind=queue).select_related(
        "case", "department", "claimed_by"
    )
    visible = [t for t in tasks if selectors.staff_can_see(request.user, t.case)]
    try:
        done, refused = services.tasks_act_batch(
            actor=request.user, tasks=[(t, picked[t.pk]) for t in visible], action=action, request=request
        )
    except services.CaseError as exc:
        messages.error(request, exc.message)
        return back
    if done:
        messages.success(request, _("已批量办理 %(n)d 件。") % {"n": len(done)})
    for task, why in refused:
        messages.error(request, _("%(c)s 未办理：%(w)s") % {"c": task.case.number, "w": why})
    missing = len(picked) - len(visible)
    if missing:
        messages.error(request, _("%(n)d 件已不在您的队列中。") % {"n": missing})
    return back


@staff_required(Perm.CASE_VIEW)
@require_POST
def staff_task_claim(request: HttpRequest, number: str, task_id: int) -> HttpResponse:
    case = _staff_case(request, number)
    task = get_object_or_404(CaseTask, pk=task_id, case=case)
    release = request.POST.get("release") == "1"
    try:
        if release:
            services.task_release(actor=request.user, task=task, request=request)
        else:
            services.task_claim(actor=request.user, task=task, request=request)
    except services.CaseError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("已释放，其他同事可以办理。") if release else _("已认领。"))
    return redirect("cases:staff_case", number=number)


@staff_required(Perm.CASE_VIEW)
@require_POST
def staff_comment(request: HttpRequest, number: str) -> HttpResponse:
    case = _staff_case(request, number)
    try:
        services.case_comment_add(
            actor=request.user, case=case, text=request.POST.get("text", ""), request=request
        )
    except services.CaseError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("已留言。"))
    return redirect("cases:staff_case", number=number)


@staff_required(Perm.CASE_VIEW)
def deadline_report(request: HttpRequest) -> HttpResponse:
    """Red and overdue open cases per department (the staff member's departments; all for the platform)."""
    report = selectors.deadline_report()
    departments = {d.code: d for d in selectors.visible_departments(request.user)}
    rows = [(departments[code], counts) for code, counts in sorted(report.items()) if code in departments]
    return render(request, "cases/report.html", {"rows": rows})
