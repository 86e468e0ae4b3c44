"""The service catalogue: items (with immutable published versions), materials, themes, bundles.

Code layout (documented in docs/catalogue.md), after GB/T 39554.1-2020:
  basic code (基本编码), 12 digits: TT item type (ItemType value) + MMMMM main item + SSS sub-item + BB business
  item; 000 / 00 when there is none.
  implementation code (实施编码), 30 characters: the implementing department's 18-character unified social
  credit code followed by the 12-digit basic code.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .constants import Audience, ItemType, MaterialForm, OnlineDepth, ThemeKind, VersionStatus


class Theme(models.Model):
    """A theme (主题) or life stage (人生阶段) for browsing, for people or for organisations."""

    code = models.SlugField(_("编码"), max_length=40, unique=True)
    name = models.CharField(_("名称"), max_length=40)
    kind = models.CharField(_("类别"), max_length=12, choices=ThemeKind.choices, default=ThemeKind.THEME)
    audience = models.CharField(_("面向"), max_length=12, choices=Audience.choices)
    position = models.PositiveSmallIntegerField(_("排序"), default=0)

    class Meta:
        verbose_name = _("主题")
        verbose_name_plural = _("主题")
        ordering = ["audience", "kind", "position", "code"]

    def __str__(self) -> str:
        return self.name


class ServiceItem(models.Model):
    """The stable identity of a service item; its content lives in versions."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)  # GovStack serviceId
    basic_code = models.CharField(_("基本编码"), max_length=12)
    implementation_code = models.CharField(_("实施编码"), max_length=30, unique=True)
    department = models.ForeignKey(
        "identity.Department",
        verbose_name=_("实施部门"),
        on_delete=models.PROTECT,
        related_name="service_items",
    )
    popularity = models.PositiveIntegerField(_("热度"), default=0)
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)
    # Denormalised pointer to the version the public sees (None until first published / after withdrawal).
    published_version = models.OneToOneField(
        "ServiceItemVersion",
        verbose_name=_("当前发布版本"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("政务服务事项")
        verbose_name_plural = _("政务服务事项")
        ordering = ["implementation_code"]

    def __str__(self) -> str:
        version = self.published_version
        return f"{version.name if version else self.basic_code}（{self.implementation_code}）"


class ServiceItemVersion(models.Model):
    """One version of an item. Only drafts change; a published version is frozen for the applications
    that used it (superseded and withdrawn versions stay readable)."""

    item = models.ForeignKey(
        ServiceItem, verbose_name=_("事项"), on_delete=models.CASCADE, related_name="versions"
    )
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)  # GovStack eFormId
    number = models.PositiveIntegerField(_("版本号"))
    status = models.CharField(
        _("状态"), max_length=12, choices=VersionStatus.choices, default=VersionStatus.DRAFT
    )

    name = models.CharField(_("事项名称"), max_length=200)
    item_type = models.CharField(_("事项类型"), max_length=2, choices=ItemType.choices)
    summary = models.TextField(_("简介"), blank=True)
    applicant_types = models.JSONField(_("服务对象"), default=list)
    legal_basis = models.TextField(_("设定依据"))
    conditions = models.TextField(_("受理条件"), blank=True)
    statutory_days = models.PositiveSmallIntegerField(_("法定办结时限（工作日）"))
    committed_days = models.PositiveSmallIntegerField(_("承诺办结时限（工作日）"))
    fee_free = models.BooleanField(_("不收费"), default=True)
    fee_description = models.TextField(_("收费标准及依据"), blank=True)
    channels = models.JSONField(_("办理渠道"), default=list)
    online_depth = models.CharField(_("网办深度"), max_length=12, choices=OnlineDepth.choices)
    max_visits = models.PositiveSmallIntegerField(_("到现场次数"), default=0)
    result_name = models.CharField(_("办理结果"), max_length=100, blank=True)
    result_licence_type = models.CharField(_("结果证照类型代码"), max_length=21, blank=True)
    form_schema = models.JSONField(_("申请表（JSON Schema）"), default=dict)
    workflow = models.JSONField(_("办理流程"), default=dict)
    # 秒批: when every rule holds at submission, the system approves at once (list of {label, condition}).
    decision_rules = models.JSONField(_("秒批规则"), default=list, blank=True)
    keywords = models.CharField(_("检索关键词"), max_length=300, blank=True)
    contact = models.CharField(_("咨询方式"), max_length=200, blank=True)
    themes = models.ManyToManyField(Theme, verbose_name=_("主题"), blank=True, related_name="item_versions")

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("编辑人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)
    submitted_at = models.DateTimeField(_("提交审核时间"), null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("审核人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    review_comment = models.TextField(_("审核意见"), blank=True)
    published_at = models.DateTimeField(_("发布时间"), null=True, blank=True)
    retired_at = models.DateTimeField(_("停用时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("事项版本")
        verbose_name_plural = _("事项版本")
        ordering = ["item", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["item", "number"], name="unique_item_version_number"),
            models.UniqueConstraint(
                fields=["item"], condition=Q(status=VersionStatus.PUBLISHED), name="one_published_version"
            ),
            models.UniqueConstraint(
                fields=["item"],
                condition=Q(status__in=[VersionStatus.DRAFT, VersionStatus.REVIEW]),
                name="one_open_version",
            ),
            models.CheckConstraint(
                condition=Q(committed_days__lte=models.F("statutory_days")), name="committed_within_statutory"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.number}（{self.get_status_display()}）"

    @property
    def is_editable(self) -> bool:
        return self.status == VersionStatus.DRAFT


class Material(models.Model):
    """An application material (申请材料), and how it can be satisfied without an upload (免提交)."""

    version = models.ForeignKey(
        ServiceItemVersion, verbose_name=_("事项版本"), on_delete=models.CASCADE, related_name="materials"
    )
    position = models.PositiveSmallIntegerField(_("排序"), default=0)
    code = models.SlugField(_("材料编码"), max_length=60)
    name = models.CharField(_("材料名称"), max_length=200)
    form = models.CharField(
        _("材料形式"), max_length=12, choices=MaterialForm.choices, default=MaterialForm.ELECTRONIC
    )
    copies = models.PositiveSmallIntegerField(_("份数"), default=1)
    required = models.BooleanField(_("必须提交"), default=True)
    condition = models.JSONField(_("需要提交的条件"), null=True, blank=True)
    condition_label = models.CharField(_("条件说明"), max_length=200, blank=True)
    formats = models.JSONField(_("接受的格式"), default=list)
    max_size_mb = models.PositiveSmallIntegerField(_("大小上限（MB）"), default=10)
    licence_type_code = models.CharField(_("可由此类证照代替"), max_length=21, blank=True)
    shared_resource_code = models.CharField(_("可由此共享数据代替"), max_length=60, blank=True)
    notes = models.CharField(_("填报说明"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("申请材料")
        verbose_name_plural = _("申请材料")
        ordering = ["version", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["version", "code"], name="unique_material_code")]

    def __str__(self) -> str:
        return self.name

    @property
    def exempt_by_sharing(self) -> bool:
        return bool(self.licence_type_code or self.shared_resource_code)


class LifeEvent(models.Model):
    """A bundle (一件事): several items across departments, one form, one set of materials."""

    code = models.SlugField(_("编码"), max_length=60, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    audience = models.CharField(_("面向"), max_length=12, choices=Audience.choices)
    summary = models.TextField(_("简介"), blank=True)
    # Questions that decide which items are included (JSON Schema properties), e.g. wants_medical_insurance.
    questions = models.JSONField(_("情形选择"), default=dict, blank=True)
    themes = models.ManyToManyField(Theme, verbose_name=_("主题"), blank=True, related_name="life_events")
    status = models.CharField(
        _("状态"), max_length=12, choices=VersionStatus.choices, default=VersionStatus.DRAFT
    )
    keywords = models.CharField(_("检索关键词"), max_length=300, blank=True)
    popularity = models.PositiveIntegerField(_("热度"), default=0)
    published_at = models.DateTimeField(_("发布时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("一件事")
        verbose_name_plural = _("一件事")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class LifeEventItem(models.Model):
    life_event = models.ForeignKey(
        LifeEvent, verbose_name=_("一件事"), on_delete=models.CASCADE, related_name="entries"
    )
    item = models.ForeignKey(ServiceItem, verbose_name=_("事项"), on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField(_("排序"), default=0)
    condition = models.JSONField(_("纳入条件"), null=True, blank=True)
    condition_label = models.CharField(_("纳入条件说明"), max_length=200, blank=True)
    # {item field: merged field}: the same fact asked once across items even when named differently.
    field_map = models.JSONField(_("字段对应"), default=dict, blank=True)

    class Meta:
        verbose_name = _("一件事包含的事项")
        verbose_name_plural = _("一件事包含的事项")
        ordering = ["life_event", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["life_event", "item"], name="unique_life_event_item")]

    def __str__(self) -> str:
        return f"{self.life_event} · {self.item}"


class SearchDocument(models.Model):
    """What the search box finds: one row per published item or bundle, with pre-segmented Chinese text and
    pinyin. The full-text index over it is the database's own (SQLite FTS5 / PostgreSQL tsvector, see
    migrations); tongban.catalog.search keeps both in sync on publish and withdrawal."""

    kind = models.CharField(max_length=10)  # "item" or "event"
    object_id = models.PositiveBigIntegerField()
    title = models.CharField(max_length=200)
    department = models.ForeignKey(
        "identity.Department", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    area_code = models.CharField(max_length=9, blank=True)
    applicant_types = models.CharField(max_length=40, blank=True)  # " person organisation "
    themes = models.CharField(max_length=400, blank=True)  # " code code "
    tokens = models.TextField()
    pinyin = models.TextField()
    popularity = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "object_id"], name="unique_search_document")]
        indexes = [models.Index(fields=["title"])]

    def __str__(self) -> str:
        return self.title
