"""Data sharing and exchange (政务信息资源共享): the resource catalogue, share requests and grants, the
accesses the data tracker shows, bulk subscriptions, and the append-only Merkle audit log.

The audit log tables are append-only: a database trigger refuses UPDATE and DELETE on them (migration
0002), and the verifier detects a row changed behind the trigger's back anyway."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ShareType(models.TextChoices):
    UNCONDITIONAL = "unconditional", _("无条件共享")
    CONDITIONAL = "conditional", _("有条件共享")
    NONE = "none", _("不予共享")


class OpenType(models.TextChoices):
    OPEN = "open", _("无条件开放")
    CONDITIONAL = "conditional", _("有条件开放")
    CLOSED = "closed", _("不予开放")


class Frequency(models.TextChoices):
    REALTIME = "realtime", _("实时")
    DAILY = "daily", _("每日")
    WEEKLY = "weekly", _("每周")
    MONTHLY = "monthly", _("每月")
    YEARLY = "yearly", _("每年")


class Sensitivity(models.IntegerChoices):
    """Field grading: what the gateway does with a value the grant does not name as clear."""

    PUBLIC = 1, _("一级：公开")  # returned as is
    INTERNAL = 2, _("二级：内部")  # returned as is to government consumers
    SENSITIVE = 3, _("三级：敏感")  # partly masked
    SECRET = 4, _("四级：高度敏感")  # fully masked


class Resource(models.Model):
    """One entry of the government information resource catalogue (政务信息资源目录), backed by a registry."""

    code = models.SlugField(_("资源编码"), max_length=60, unique=True)
    name = models.CharField(_("资源名称"), max_length=100)
    owner = models.ForeignKey(
        "identity.Department", verbose_name=_("提供部门"), on_delete=models.PROTECT, related_name="resources"
    )
    theme = models.CharField(_("主题"), max_length=30, blank=True)
    description = models.TextField(_("摘要"), blank=True)
    share_type = models.CharField(_("共享类型"), max_length=16, choices=ShareType.choices)
    share_condition = models.CharField(_("共享条件"), max_length=300, blank=True)
    legal_basis = models.CharField(_("依据"), max_length=300, blank=True)
    open_type = models.CharField(
        _("开放类型"), max_length=16, choices=OpenType.choices, default=OpenType.CLOSED
    )
    update_frequency = models.CharField(
        _("更新周期"), max_length=12, choices=Frequency.choices, default=Frequency.DAILY
    )
    via_api = models.BooleanField(_("接口共享"), default=True)
    via_bulk = models.BooleanField(_("批量订阅"), default=False)
    registry = models.ForeignKey(
        "registries.Registry",
        verbose_name=_("数据来源（基础库）"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    area_field = models.CharField(
        _("区划字段"), max_length=60, blank=True, help_text=_("记录所属区划的字段，用于按地区授权和回流")
    )
    is_active = models.BooleanField(_("在编"), default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("信息资源")
        verbose_name_plural = _("信息资源")
        ordering = ["owner__code", "code"]

    def __str__(self) -> str:
        return self.name


class ResourceField(models.Model):
    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="fields")
    name = models.CharField(_("字段名"), max_length=60)
    label = models.CharField(_("中文名"), max_length=60)
    data_type = models.CharField(_("类型"), max_length=20, default="string")
    sensitivity = models.PositiveSmallIntegerField(
        _("分级"), choices=Sensitivity.choices, default=Sensitivity.INTERNAL
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["resource", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["resource", "name"], name="exchange_field_unique")]

    def __str__(self) -> str:
        return f"{self.resource.code}.{self.name}"


class RequestStatus(models.TextChoices):
    PENDING = "pending", _("待答复")
    APPROVED = "approved", _("已同意")
    REFUSED = "refused", _("已拒绝")
    WITHDRAWN = "withdrawn", _("已撤回")


class ShareRequest(models.Model):
    """共享申请: a consumer department asks a provider for a conditional resource; answered within 10
    working days (``due_on``), reminded before, escalated to the data bureau once overdue."""

    number = models.CharField(_("申请编号"), max_length=30, unique=True)
    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="requests")
    consumer = models.ForeignKey(
        "identity.Department", verbose_name=_("申请部门"), on_delete=models.PROTECT, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    purpose = models.CharField(_("用途"), max_length=300)
    legal_basis = models.CharField(_("依据"), max_length=300)
    fields = models.JSONField(_("申请字段"), default=list)
    scope_areas = models.JSONField(_("记录范围（区划）"), default=list, blank=True)
    duration_days = models.PositiveIntegerField(_("使用期限（天）"), default=365)
    rate_per_minute = models.PositiveIntegerField(_("调用频率（次/分钟）"), default=600)
    status = models.CharField(max_length=12, choices=RequestStatus.choices, default=RequestStatus.PENDING)
    submitted_at = models.DateTimeField(default=timezone.now)
    due_on = models.DateField(_("答复期限"))
    reminded_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    refusal_reason = models.TextField(_("拒绝理由"), blank=True)

    class Meta:
        verbose_name = _("共享申请")
        verbose_name_plural = _("共享申请")
        ordering = ["-submitted_at", "-id"]
        indexes = [models.Index(fields=["status", "due_on"])]

    def __str__(self) -> str:
        return self.number


class Grant(models.Model):
    """授权: what one consumer department may read of one resource, enforced on every gateway call."""

    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="grants")
    consumer = models.ForeignKey(
        "identity.Department", verbose_name=_("使用部门"), on_delete=models.PROTECT, related_name="+"
    )
    request = models.OneToOneField(
        ShareRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="grant"
    )
    purpose = models.CharField(_("用途"), max_length=300)
    legal_basis = models.CharField(_("依据"), max_length=300, blank=True)
    fields = models.JSONField(_("授权字段"), default=list)
    clear_fields = models.JSONField(_("明文字段"), default=list, blank=True)
    scope_areas = models.JSONField(_("记录范围（区划）"), default=list, blank=True)
    rate_per_minute = models.PositiveIntegerField(_("调用频率（次/分钟）"), default=600)
    valid_from = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(_("到期时间"))
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(_("撤销理由"), max_length=300, blank=True)
    hold_until = models.DateField(
        _("暂缓告知至"), null=True, blank=True, help_text=_("侦查等需要保密的用途：此日期前不向数据主体显示")
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("共享授权")
        verbose_name_plural = _("共享授权")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["consumer", "resource"])]

    def __str__(self) -> str:
        return f"{self.consumer} → {self.resource}"

    def active(self, now: object = None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and self.valid_from <= now < self.expires_at


class DataAccess(models.Model):
    """One record read through the gateway: what the data tracker (我的数据被谁用了) shows its subject."""

    # One row per person per gateway read: two indexes only (the key and the tracker's subject + time), as
    # every further index is written on every call. Resources, departments and grants are not deleted.
    subject = models.CharField(_("数据主体"), max_length=18)
    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="+", db_index=False)
    consumer = models.ForeignKey(
        "identity.Department", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    grant = models.ForeignKey(
        Grant, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    purpose = models.CharField(max_length=300, blank=True)
    fields = models.JSONField(default=list)
    log_index = models.BigIntegerField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["subject", "at"])]

    def __str__(self) -> str:
        return f"{self.subject} {self.resource_id} {self.at:%Y-%m-%d %H:%M}"


class Subscription(models.Model):
    """批量订阅: a consumer's system receives a resource's snapshot, then its changes, by change number
    (``registries.feed``). ``down_to`` makes it a return-flow (回流) subscription: only records of that area
    and below. The grant, fields and area are checked again on every batch delivered."""

    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="subscriptions")
    grant = models.ForeignKey(Grant, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    client = models.ForeignKey("identity.SystemClient", on_delete=models.CASCADE, related_name="+")
    fields = models.JSONField(_("订阅字段"), default=list)
    purpose = models.CharField(_("用途"), max_length=300, blank=True)
    down_to = models.CharField(_("回流区划"), max_length=9, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    snapshot_seq = models.BigIntegerField(_("快照截止序号"), default=0)
    delivered_seq = models.BigIntegerField(_("已送达序号"), default=0)
    acknowledged_seq = models.BigIntegerField(_("已确认序号"), default=0)
    last_delivery_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("批量订阅")
        verbose_name_plural = _("批量订阅")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.resource_id} → {self.client_id}"


# ---- the Merkle audit log ---------------------------------------------------------------------------


class LogEntry(models.Model):
    """One leaf of the RFC 9162 audit log. ``id`` is the leaf index + 1; ``leaf`` the exact bytes hashed
    (canonical JSON of the entry's metadata: who, what, when, request and response hashes, no payload)."""

    kind = models.CharField(max_length=20)
    leaf = models.TextField()
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"#{self.pk - 1} {self.kind}"


class LogNode(models.Model):
    """The hash of a complete subtree of 2^level leaves (level a multiple of 4), keyed level·2^48 + index."""

    key = models.BigIntegerField(primary_key=True)
    hash = models.BinaryField(max_length=32)

    def __str__(self) -> str:
        return f"node {self.key >> 48}/{self.key & ((1 << 48) - 1)}"


class LogState(models.Model):
    """The single row that serialises integration: how many leaves are in the tree (a contiguous prefix)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    size = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"tree size {self.size}"


class Checkpoint(models.Model):
    """A signed tree head: origin, size, root and time, signed with the platform's seal."""

    tree_size = models.BigIntegerField(unique=True)
    root_hash = models.BinaryField(max_length=32)
    signed_at = models.DateTimeField()
    note = models.TextField()
    key_id = models.CharField(max_length=40)
    algorithm = models.CharField(max_length=12)
    signature = models.TextField()

    class Meta:
        ordering = ["-tree_size"]

    def __str__(self) -> str:
        return f"checkpoint {self.tree_size}"
