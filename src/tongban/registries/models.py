"""Base registries (基础库): the population registry, the legal-entity registry, and registries operators
define from a schema; every change kept with who, when, from which source and from when it holds; bulk
loads tracked batch by batch so that an interrupted load resumes."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class RegistryKind(models.TextChoices):
    POPULATION = "population", _("人口库")
    LEGAL_ENTITY = "legal_entity", _("法人库")
    CUSTOM = "custom", _("自定义")


class Registry(models.Model):
    """One registry: what it holds, who owns it, its key and (for operator-defined ones) its schema."""

    code = models.SlugField(_("编码"), max_length=60, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    kind = models.CharField(_("类型"), max_length=16, choices=RegistryKind.choices)
    owner = models.ForeignKey(
        "identity.Department", verbose_name=_("主管部门"), on_delete=models.PROTECT, related_name="registries"
    )
    key_field = models.CharField(_("主键字段"), max_length=60)
    schema = models.JSONField(_("数据结构"), default=dict, help_text=_("JSON Schema（自定义库）"))
    version = models.CharField(_("版本"), max_length=20, default="1.0")
    description = models.TextField(_("说明"), blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("基础库")
        verbose_name_plural = _("基础库")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class PersonRecord(models.Model):
    """人口库: one resident. Typed columns, because the quality runs scan ten million of them."""

    LIVING, DECEASED, EMIGRATED = "living", "deceased", "emigrated"
    STATUSES = [(LIVING, _("在世")), (DECEASED, _("死亡")), (EMIGRATED, _("迁出"))]

    id_number = models.CharField(_("公民身份号码"), max_length=18, unique=True)
    name = models.CharField(_("姓名"), max_length=60)
    sex = models.CharField(_("性别"), max_length=1, blank=True)
    birth_date = models.DateField(_("出生日期"), null=True, blank=True)
    ethnicity = models.CharField(_("民族代码"), max_length=2, blank=True)
    household_address = models.CharField(_("户籍地址"), max_length=200, blank=True)
    area_code = models.CharField(_("户籍地区划代码"), max_length=9, blank=True)
    marital_status = models.CharField(_("婚姻状况代码"), max_length=2, blank=True)
    status = models.CharField(_("状态"), max_length=10, choices=STATUSES, default=LIVING)
    phone = models.CharField(_("联系电话"), max_length=20, blank=True)
    effective_from = models.DateField(_("生效日期"), null=True, blank=True)
    updated_at = models.DateTimeField(_("更新时间"), default=timezone.now)
    source = models.CharField(_("数据来源"), max_length=100, blank=True)
    seq = models.BigIntegerField(_("变更序号"), default=0, db_index=True, editable=False)

    class Meta:
        verbose_name = _("人口库记录")
        verbose_name_plural = _("人口库记录")

    def __str__(self) -> str:
        return self.id_number


class LegalEntityRecord(models.Model):
    """法人库: one legal entity, keyed by its unified social credit code."""

    ACTIVE, CANCELLED, REVOKED = "active", "cancelled", "revoked"
    STATUSES = [(ACTIVE, _("存续")), (CANCELLED, _("注销")), (REVOKED, _("吊销"))]

    uscc = models.CharField(_("统一社会信用代码"), max_length=18, unique=True)
    name = models.CharField(_("名称"), max_length=200)
    entity_type = models.CharField(_("类型"), max_length=60, blank=True)
    legal_rep_id_number = models.CharField(_("法定代表人身份号码"), max_length=18, blank=True, db_index=True)
    registered_capital = models.DecimalField(
        _("注册资本（万元）"), max_digits=16, decimal_places=4, null=True, blank=True
    )
    established_on = models.DateField(_("成立日期"), null=True, blank=True)
    industry_code = models.CharField(_("行业代码（GB/T 4754）"), max_length=5, blank=True)
    address = models.CharField(_("住所"), max_length=200, blank=True)
    area_code = models.CharField(_("住所区划代码"), max_length=9, blank=True)
    business_scope = models.TextField(_("经营范围"), blank=True)
    status = models.CharField(_("状态"), max_length=10, choices=STATUSES, default=ACTIVE)
    effective_from = models.DateField(_("生效日期"), null=True, blank=True)
    updated_at = models.DateTimeField(_("更新时间"), default=timezone.now)
    source = models.CharField(_("数据来源"), max_length=100, blank=True)
    seq = models.BigIntegerField(_("变更序号"), default=0, db_index=True, editable=False)

    class Meta:
        verbose_name = _("法人库记录")
        verbose_name_plural = _("法人库记录")

    def __str__(self) -> str:
        return self.uscc


class RegistryRecord(models.Model):
    """A record of an operator-defined registry: the key and the data, validated against the schema."""

    registry = models.ForeignKey(Registry, on_delete=models.CASCADE, related_name="records")
    key = models.CharField(max_length=120)
    data = models.JSONField(default=dict)
    effective_from = models.DateField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=100, blank=True)
    seq = models.BigIntegerField(default=0, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["registry", "key"], name="one_record_per_key")]
        indexes = [models.Index(fields=["registry", "seq"])]

    def __str__(self) -> str:
        return f"{self.registry.code}:{self.key}"


class FeedCounter(models.Model):
    """The last change sequence number handed out in one registry. Writers take it under a row lock held
    to their commit, so sequence order is commit order and a change-feed reader never skips a number that
    commits later (see ``feed.allocate``)."""

    registry = models.OneToOneField(Registry, primary_key=True, on_delete=models.CASCADE, related_name="+")
    last = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.registry_id}: {self.last}"


class Tombstone(models.Model):
    """A record gone from the change feed's view of an area: deleted, or moved to another area (``moved_to``)
    so that a return-flow subscriber of the old area learns to drop it."""

    registry = models.ForeignKey(Registry, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=120)
    seq = models.BigIntegerField()
    area = models.CharField(max_length=9, blank=True)
    moved_to = models.CharField(max_length=9, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["registry", "seq"])]

    def __str__(self) -> str:
        return f"{self.registry_id}:{self.key} @{self.seq}"


class RecordChange(models.Model):
    """Append-only history: what changed in a record, who or which load changed it, from when it holds."""

    registry = models.ForeignKey(Registry, on_delete=models.CASCADE, related_name="changes")
    key = models.CharField(max_length=120)
    changes = models.JSONField(default=dict, help_text=_("字段 → [原值, 新值]"))
    source = models.CharField(max_length=100, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    load = models.ForeignKey("LoadJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    effective_from = models.DateField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["registry", "key", "at"])]
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.registry.code}:{self.key} @ {self.at:%Y-%m-%d %H:%M}"


class LoadJob(models.Model):
    """One bulk load: applied batch by batch (each all-or-nothing); ``batches_done`` lets an interrupted
    load resume where it stopped; rejected rows are kept with their line and reason."""

    RUNNING, DONE, FAILED = "running", "done", "failed"
    registry = models.ForeignKey(Registry, on_delete=models.CASCADE, related_name="loads")
    source = models.CharField(_("来源"), max_length=200)
    mode = models.CharField(max_length=10, default="upsert")
    mapping = models.JSONField(_("字段对应"), default=dict)
    batch_size = models.PositiveIntegerField(default=50_000)
    batches_done = models.PositiveIntegerField(default=0)
    accepted = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    rejections = models.JSONField(_("拒收行（前 1000 行）"), default=list)
    status = models.CharField(max_length=10, default=RUNNING)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # A batch pushed by another system carries its own reference: the same reference twice is a replay.
    batch_ref = models.CharField(max_length=200, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.registry.code} {self.source} ({self.status})"


class RegistryRead(models.Model):
    """Who read which record, when, through which system: what ``myPersonalDataUsage`` returns to the
    person whose data it is (and what the data tracker will show)."""

    registry = models.ForeignKey(Registry, on_delete=models.CASCADE, related_name="reads")
    record_key = models.CharField(max_length=120)
    subject = models.CharField(_("数据主体"), max_length=18, db_index=True, blank=True)
    client = models.ForeignKey(
        "identity.SystemClient", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reader_department = models.ForeignKey(
        "identity.Department", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    mediator = models.CharField(max_length=300, blank=True)
    operation = models.CharField(max_length=20)
    fields = models.JSONField(default=list)
    # The grants the read was made under (none: the owner, or unconditional resources only): a grant held
    # back for a covert purpose hides the read from the person until its date, as at the gateway.
    grants = models.ManyToManyField("exchange.Grant", blank=True, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["registry", "subject", "at"])]

    def __str__(self) -> str:
        return f"{self.registry.code}:{self.record_key} {self.at:%Y-%m-%d %H:%M}"


class RuleKind(models.TextChoices):
    COMPLETENESS = "completeness", _("完整性")
    ID_NUMBER = "id_number", _("身份号码格式与校验位")
    USCC = "uscc", _("信用代码格式与校验位")
    AREA_CODE = "area_code", _("区划代码格式")
    CODE_LIST = "code_list", _("代码表")
    RANGE = "range", _("取值范围")
    BIRTH_MATCHES_ID = "birth_matches_id", _("出生日期与身份号码一致")
    LEGAL_REP_ALIVE = "legal_rep_alive", _("法定代表人在人口库且在世")
    DUPLICATE = "duplicate", _("重复记录")
    TIMELINESS = "timeliness", _("更新及时性")


class QualityRule(models.Model):
    """A declarative data-quality rule on one registry field (or fields); the check runs as SQL."""

    registry = models.ForeignKey(Registry, on_delete=models.CASCADE, related_name="rules")
    code = models.SlugField(_("规则编码"), max_length=60)
    name = models.CharField(_("名称"), max_length=100)
    kind = models.CharField(_("类型"), max_length=20, choices=RuleKind.choices)
    field = models.CharField(_("字段"), max_length=60, blank=True)
    params = models.JSONField(_("参数"), default=dict, blank=True)
    weight = models.PositiveSmallIntegerField(_("权重"), default=1)
    enabled = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("质量规则")
        verbose_name_plural = _("质量规则")
        ordering = ["registry", "code"]
        constraints = [
            models.UniqueConstraint(fields=["registry", "code"], name="one_rule_code_per_registry")
        ]

    def __str__(self) -> str:
        return f"{self.registry.code}:{self.code}"


class QualityRun(models.Model):
    registry = models.ForeignKey(Registry, on_delete=models.CASCADE, related_name="runs")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    records = models.PositiveIntegerField(default=0)
    score = models.FloatField(_("得分"), null=True)
    # rule code -> {"failed": n, "score": 0-100}
    results = models.JSONField(default=dict)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.registry.code} {self.started_at:%Y-%m-%d %H:%M} {self.score}"


class QualityIssue(models.Model):
    """One record failing one rule: sent to the owning department (纠错) to correct or explain."""

    OPEN, EXPLAINED, RESOLVED = "open", "explained", "resolved"
    STATUSES = [(OPEN, _("待处理")), (EXPLAINED, _("已说明")), (RESOLVED, _("已纠正"))]

    rule = models.ForeignKey(QualityRule, on_delete=models.CASCADE, related_name="issues")
    record_key = models.CharField(_("记录"), max_length=120)
    status = models.CharField(_("状态"), max_length=10, choices=STATUSES, default=OPEN)
    explanation = models.CharField(_("说明"), max_length=300, blank=True)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("质量问题")
        verbose_name_plural = _("质量问题")
        ordering = ["rule", "record_key"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "record_key"], name="one_issue_per_rule_record")
        ]
        indexes = [models.Index(fields=["rule", "status"])]

    def __str__(self) -> str:
        return f"{self.rule} {self.record_key} {self.status}"
