"""Cases (办件): an application against a published item version, its workflow tasks and its timeline."""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .constants import OPEN_STATUSES, CaseStatus, EventKind, Outcome, TaskStatus


class CaseNumberCounter(models.Model):
    """Per day and area, the last sequence number handed out (locked row: numbers never repeat)."""

    day = models.DateField()
    area_code = models.CharField(max_length=6)
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "area_code"], name="unique_case_counter")]

    def __str__(self) -> str:
        return f"{self.area_code} {self.day} #{self.last}"


class Case(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)  # GovStack fileId
    number = models.CharField(_("办件编号"), max_length=24, unique=True)
    query_code = models.CharField(_("查询码"), max_length=8)
    applicant = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("申请人账号"), on_delete=models.PROTECT, related_name="cases"
    )
    organisation = models.ForeignKey(
        "identity.Organisation",
        verbose_name=_("代表的组织"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases",
    )
    item_version = models.ForeignKey(
        "catalog.ServiceItemVersion",
        verbose_name=_("事项版本"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases",
    )
    life_event = models.ForeignKey(
        "catalog.LifeEvent",
        verbose_name=_("一件事"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases",
    )
    parent = models.ForeignKey(
        "self",
        verbose_name=_("所属一件事办件"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="sub_cases",
    )
    department = models.ForeignKey(
        "identity.Department",
        verbose_name=_("实施部门"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases",
    )
    title = models.CharField(_("事项名称"), max_length=200)
    status = models.CharField(
        _("状态"), max_length=12, choices=CaseStatus.choices, default=CaseStatus.SUBMITTED
    )
    outcome = models.CharField(
        _("结果"), max_length=10, choices=Outcome.choices, default=Outcome.NONE, blank=True
    )
    answers = models.JSONField(_("申请信息"), default=dict)
    idempotency_key = models.CharField(max_length=64, blank=True)
    submitted_at = models.DateTimeField(_("提交时间"), default=timezone.now)
    accepted_on = models.DateField(_("受理日期"), null=True, blank=True)
    decided_at = models.DateTimeField(_("决定时间"), null=True, blank=True)
    closed_at = models.DateTimeField(_("办结时间"), null=True, blank=True)
    decision_reason = models.TextField(_("决定理由"), blank=True)
    committed_due = models.DateField(_("承诺期限"), null=True, blank=True)
    statutory_due = models.DateField(_("法定期限"), null=True, blank=True)
    paused_days = models.PositiveIntegerField(_("补正暂停工作日"), default=0)
    paused_since = models.DateField(_("补正开始"), null=True, blank=True)
    correction_items = models.JSONField(_("补正事项"), default=list, blank=True)
    lock_version = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("办件")
        verbose_name_plural = _("办件")
        ordering = ["-submitted_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["applicant", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="one_case_per_submission",
            ),
            models.CheckConstraint(
                condition=Q(item_version__isnull=False) | Q(life_event__isnull=False),
                name="case_has_item_or_bundle",
            ),
        ]
        indexes = [
            models.Index(fields=["department", "status"]),
            models.Index(fields=["status", "committed_due"]),
            models.Index(fields=["applicant", "-submitted_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    @property
    def is_bundle(self) -> bool:
        return self.life_event_id is not None and self.item_version_id is None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class CaseTask(models.Model):
    """One workflow step of a case, in the department and role the item's workflow names."""

    case = models.ForeignKey(Case, verbose_name=_("办件"), on_delete=models.CASCADE, related_name="tasks")
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)  # GovStack taskId
    step_key = models.CharField(max_length=40)
    name = models.CharField(_("环节"), max_length=60)
    kind = models.CharField(_("类型"), max_length=10)
    after = models.JSONField(default=list)
    department = models.ForeignKey(
        "identity.Department", verbose_name=_("办理部门"), on_delete=models.PROTECT, related_name="case_tasks"
    )
    role = models.CharField(_("办理角色"), max_length=30)
    status = models.CharField(
        _("状态"), max_length=10, choices=TaskStatus.choices, default=TaskStatus.WAITING
    )
    opened_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("认领人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("办理人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    completed_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    action = models.CharField(_("办理结果"), max_length=12, blank=True)
    reason = models.TextField(_("意见"), blank=True)
    lock_version = models.PositiveIntegerField(default=0)
    # The case's committed deadline, kept here so that a queue sorts by it without a join.
    due = models.DateField(_("期限"), null=True, blank=True)

    class Meta:
        verbose_name = _("办理环节")
        verbose_name_plural = _("办理环节")
        ordering = ["case", "id"]
        constraints = [models.UniqueConstraint(fields=["case", "step_key"], name="unique_case_step")]
        indexes = [
            models.Index(fields=["department", "status", "role"]),
            models.Index(fields=["department", "kind", "status", "opened_at"], name="task_queue_fifo"),
            models.Index(fields=["department", "kind", "status", "due"], name="task_queue_due"),
        ]

    def __str__(self) -> str:
        return f"{self.case.number} · {self.name}"


class CaseEvent(models.Model):
    """The case's timeline: what the applicant follows like a parcel, and the internal record."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=24, choices=EventKind.choices)
    public = models.BooleanField(default=True)
    message = models.CharField(max_length=300)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    department = models.ForeignKey(
        "identity.Department", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    data = models.JSONField(default=dict, blank=True)
    # The event is its own outbox: set with the change, cleared once the applicant has been told.
    notice_pending = models.BooleanField(default=False)

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(
                fields=["id"], condition=models.Q(notice_pending=True), name="caseevent_notice_pending"
            )
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.message}"


def today() -> dt.date:
    return timezone.localdate()


def _document_path(instance: CaseDocument, filename: str) -> str:
    # Never the uploaded name: a random name under the private media root, not served by any URL.
    return f"cases/{timezone.now():%Y/%m}/{uuid.uuid4().hex}"


class Draft(models.Model):
    """An application saved before submission (申请草稿): answers and uploaded files, one per applicant, acting
    identity and item or bundle. Submitting it turns it into a case and removes it."""

    applicant = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="drafts", verbose_name=_("申请人")
    )
    organisation = models.ForeignKey(
        "identity.Organisation", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    item = models.ForeignKey(
        "catalog.ServiceItem", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    life_event = models.ForeignKey(
        "catalog.LifeEvent", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # "item:<id>|org:<id or ->": what the draft is for, so that there is one per applicant and target.
    key = models.CharField(max_length=80)
    title = models.CharField(_("事项"), max_length=200)
    answers = models.JSONField(_("已填写的内容"), default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(_("保存时间"), default=timezone.now)

    class Meta:
        verbose_name = _("申请草稿")
        verbose_name_plural = _("申请草稿")
        ordering = ["-updated_at"]
        constraints = [models.UniqueConstraint(fields=["applicant", "key"], name="one_draft_per_target")]

    def __str__(self) -> str:
        return self.title


class CaseDocument(models.Model):
    """An uploaded material. Stored outside the web root; read only through an authorised view."""

    CLEAN, INFECTED, NOT_SCANNED = "clean", "infected", "not_scanned"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.CASCADE, related_name="documents")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Documents uploaded by another system through the GovStack API, before the application exists.
    uploaded_by_client = models.ForeignKey(
        "identity.SystemClient", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    draft = models.ForeignKey(
        Draft, null=True, blank=True, on_delete=models.CASCADE, related_name="documents"
    )
    material_code = models.CharField(_("材料"), max_length=60, blank=True)
    original_name = models.CharField(_("文件名"), max_length=200)
    file = models.FileField(upload_to=_document_path, max_length=200)
    size = models.PositiveIntegerField(_("大小"))
    content_type = models.CharField(_("文件类型"), max_length=80)
    sha256 = models.CharField(max_length=64)
    scan_status = models.CharField(_("病毒扫描"), max_length=12, default=NOT_SCANNED)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("申请材料文件")
        verbose_name_plural = _("申请材料文件")
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.original_name
