"""Demo cases in every state, across departments, through the real services (deterministic)."""

from __future__ import annotations

import datetime as dt
import random

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from tongban.catalog import services as catalog_services
from tongban.catalog.models import LifeEvent, ServiceItem
from tongban.core import codes, workdays
from tongban.identity.constants import AccountType
from tongban.identity.models import StaffRole, User

from . import selectors, services
from .constants import Action, CaseStatus
from .models import Case, CaseTask

# (item name, how far it gets): the steps are taken by the demo staff holding each task's role.
PLAN = [
    ("出生医学证明签发", "submitted"),
    ("出生医学证明签发", "review"),
    ("出生医学证明签发", "closed"),
    ("出生登记（户口登记）", "submitted"),
    ("出生登记（户口登记）", "correction"),
    ("出生登记（户口登记）", "decided"),
    ("居民身份证换领", "review"),
    ("居民身份证换领", "closed"),
    ("居民身份证补领", "refused"),
    ("内地居民结婚登记", "closed"),
    ("内地居民结婚登记", "submitted"),
    ("最低生活保障审批", "review"),
    ("最低生活保障审批", "rejected"),
    ("社会保障卡申领", "review"),
    ("社会保障卡申领", "closed"),
    ("失业保险金申领", "submitted"),
    ("城乡居民基本医疗保险参保登记", "closed"),
    ("生育津贴申领", "review"),
    ("个体工商户设立登记", "closed"),
    ("小餐饮登记", "correction"),
    ("小餐饮登记", "review"),
    ("基本养老保险待遇申领（退休）", "withdrawn"),
    ("丧葬补助金发放", "submitted"),
    ("就业登记", "closed"),
    ("出生医学证明签发", "overdue"),
    ("社会保障卡申领", "overdue"),
    ("城乡居民基本医疗保险参保登记", "overdue"),
]
# A tiny but genuine PDF (sniffed as PDF), standing in for the materials demo applicants upload.
DEMO_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
FILLER = {"string": "示例", "integer": 1, "number": 100.0, "boolean": True}


def _answers(schema: dict, rng: random.Random) -> dict:
    answers = {}
    for name, prop in schema.get("properties", {}).items():
        if "x-prefill" in prop:
            continue
        if "enum" in prop:
            answers[name] = rng.choice(prop["enum"])
        elif prop.get("format") == "date":
            answers[name] = (timezone.localdate() - dt.timedelta(days=30)).isoformat()
        elif prop.get("type") == "array":
            answers[name] = prop["items"]["enum"][:1]
        elif prop.get("format") == "id-number":  # a man's number where the field asks for one
            sequence = 21 if prop.get("x-sex") == "M" else 22
            answers[name] = codes.make_resident_id("110105", dt.date(1985, 6, 1), sequence)
        elif prop.get("format") == "vehicle-plate":
            answers[name] = "浙A12345"
        else:
            value = FILLER[prop.get("type", "string")]
            answers[name] = (
                max(value, prop.get("minimum", value)) if isinstance(value, int | float) else value
            )
    return answers


def _uploads(item: ServiceItem, answers: dict) -> dict:
    version = item.published_version
    return {
        m.code: SimpleUploadedFile(f"{m.code}.pdf", DEMO_PDF, content_type="application/pdf")
        for m in selectors.materials_needed(version, answers)
        if "pdf" in (m.formats or ["pdf"])
    }


class _Staff:
    def __init__(self) -> None:
        self.by_role = {}
        for role in (
            StaffRole.objects.filter(user__account_type=AccountType.STAFF)
            .select_related("user")
            .order_by("id")
        ):
            self.by_role.setdefault((role.department_id, role.role), role.user)

    def act(self, case: Case, step: str, action: str, **kwargs) -> Case:
        task = CaseTask.objects.get(case=case, step_key=step)
        actor = self.by_role.get((task.department_id, task.role))
        if actor is None:
            raise RuntimeError(f"no demo staff for {task.department} {task.role}")
        return services.task_act(actor=actor, task=task, action=action, **kwargs)

    def run(self, case: Case, until: str) -> Case:
        """Walk the workflow: accept, then every review, then decide, then close, stopping at ``until``."""
        if until in ("submitted", "withdrawn") or case.status != CaseStatus.SUBMITTED:
            return case  # (a case decided instantly by 秒批 needs nobody)
        if until == "refused":
            return self.act(case, "accept", Action.REFUSE, reason="不属于本部门管辖")
        if until == "correction":
            return self.act(
                case, "accept", Action.CORRECTION, reason="材料不全", correction_items=["户口簿首页及本人页"]
            )
        case = self.act(case, "accept", Action.ACCEPT)
        if until in ("review", "overdue"):
            return case
        for task in CaseTask.objects.filter(case=case, kind="review").order_by("id"):
            case = self.act(case, task.step_key, Action.PASS)
        if until == "rejected":
            return self.act(case, "decide", Action.REJECT, reason="家庭收入高于最低生活保障标准")
        case = self.act(case, "decide", Action.APPROVE)
        if until == "decided":
            return case
        return (
            self.act(case, "close", Action.CLOSE)
            if CaseTask.objects.filter(case=case, step_key="close").exists()
            else case
        )


def build_demo_cases(*, seed: int = 7) -> dict[str, Case]:
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data
    citizens = list(User.objects.filter(account_type=AccountType.PUBLIC).order_by("pk")[3:80])
    staff = _Staff()
    items = {
        i.published_version.name: i
        for i in ServiceItem.objects.filter(
            published_version__isnull=False, department__code__startswith="ljs-"
        ).select_related("published_version")
    }
    made: dict[str, Case] = {}
    for n, (name, until) in enumerate(PLAN):
        item = items[name]
        answers = _answers(item.published_version.form_schema, rng)
        case = services.case_submit(
            applicant=citizens[n % len(citizens)], item=item, answers=answers, uploads=_uploads(item, answers)
        )
        case = staff.run(case, until)
        if until == "withdrawn":
            case = services.case_withdraw(applicant=case.applicant, case=case, reason="已在线下办理")
        if until == "overdue":
            # Demo only: pretend it was accepted long ago, so the overdue queue has something to show.
            cal = workdays.calendar()
            start = cal.add(case.accepted_on - dt.timedelta(days=60), 0)
            Case.objects.filter(pk=case.pk).update(
                accepted_on=start, committed_due=cal.add(start, 5), statutory_due=cal.add(start, 20)
            )
            CaseTask.objects.filter(case=case).update(due=cal.add(start, 5))
        made[f"{name}:{until}"] = case
    # The persona citizen has a newborn bundle on the way: two departments done, two still working.
    persona = User.objects.filter(account_type=AccountType.PUBLIC).order_by("pk").first()
    event = LifeEvent.objects.get(code="newborn")
    schema = catalog_services.merged_form(event).schema
    answers = {**_answers(schema, rng), "wants_medical_insurance": True, "wants_social_card": True}
    bundle = services.case_submit(applicant=persona, life_event=event, answers=answers)
    for i, sub in enumerate(bundle.sub_cases.order_by("id")):
        staff.run(sub, "closed" if i < 2 else "review")
    made["newborn"] = bundle
    assert Case.objects.filter(status=CaseStatus.CORRECTION).exists()
    return made
