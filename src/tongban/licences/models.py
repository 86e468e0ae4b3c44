"""Electronic licences (GB/T 36901–36905), the departments' seals that sign them, and their uses."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .constants import Algorithm, HolderCodeType, LicenceStatus


class LicenceType(models.Model):
    """A kind of licence (证照类型) with its GB/T 36903 metadata and the schema of its face data (照面信息)."""

    code = models.CharField(_("证照类型代码"), max_length=21, unique=True)
    name = models.CharField(_("证照类型名称"), max_length=60, unique=True)
    issuer = models.ForeignKey(
        "identity.Department",
        verbose_name=_("默认颁发机构"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # The departments with the authority to issue this type (颁发机构); the default issuer is always one.
    # Issuance, renewal and change by any other department are refused, and a licence whose seal belongs
    # to another department does not verify.
    issuers = models.ManyToManyField(
        "identity.Department",
        verbose_name=_("有权颁发的机构"),
        blank=True,
        related_name="issuable_licence_types",
    )
    holder_code_type = models.CharField(_("持证主体代码类型"), max_length=12, choices=HolderCodeType.choices)
    validity_years = models.PositiveSmallIntegerField(_("有效期（年）"), null=True, blank=True)
    face_schema = models.JSONField(_("照面信息结构"), default=dict, help_text=_("JSON Schema"))
    # The face fields in display order, for the licence card and the PDF.
    display_fields = models.JSONField(_("展示字段"), default=list, blank=True)
    related_type = models.ForeignKey(
        "self", verbose_name=_("关联证照类型"), null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        verbose_name = _("证照类型")
        verbose_name_plural = _("证照类型")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name

    def issuer_ids(self) -> set[int]:
        """The departments that may issue this type: ``issuers`` and the default issuer."""
        ids = set(self.issuers.values_list("pk", flat=True))
        if self.issuer_id is not None:
            ids.add(self.issuer_id)
        return ids


class SealKey(models.Model):
    """One signing key of a department's electronic seal (电子印章). The private key is held by the key store
    (encrypted at rest) and never leaves it; only the public key is here in the clear. A key signs from
    ``valid_from``; rotation ends its signing life (``retired_at``) but its signatures stay valid;
    revocation (compromise) makes every signature by it invalid, so its licences are signed again."""

    key_id = models.CharField(_("密钥标识"), max_length=40, unique=True, editable=False)
    department = models.ForeignKey(
        "identity.Department", verbose_name=_("部门"), on_delete=models.PROTECT, related_name="seal_keys"
    )
    algorithm = models.CharField(_("算法"), max_length=12, choices=Algorithm.choices)
    public_key = models.TextField(_("公钥（PEM）"))
    private_key = models.BinaryField(_("私钥（密钥库句柄，已加密）"), editable=False)
    key_store = models.CharField(_("密钥库"), max_length=60, editable=False)
    valid_from = models.DateTimeField(_("生效时间"), default=timezone.now)
    retired_at = models.DateTimeField(_("停止签章时间"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("吊销时间"), null=True, blank=True)
    revocation_reason = models.CharField(_("吊销原因"), max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("印章密钥")
        verbose_name_plural = _("印章密钥")
        ordering = ["department", "-valid_from"]

    def __str__(self) -> str:
        return f"{self.department.short_name} {self.algorithm} {self.key_id}"


class Licence(models.Model):
    """One issued licence: its GB/T 36903 metadata, face data and the signed document the holder keeps."""

    identifier = models.CharField(_("证照标识"), max_length=120, unique=True)
    licence_type = models.ForeignKey(
        LicenceType, verbose_name=_("证照类型"), on_delete=models.PROTECT, related_name="licences"
    )
    number = models.CharField(_("证照编号"), max_length=60)
    name = models.CharField(_("证照名称"), max_length=60)
    issuer = models.ForeignKey(
        "identity.Department", verbose_name=_("颁发机构"), on_delete=models.PROTECT, related_name="+"
    )
    issuer_code = models.CharField(_("颁发机构代码"), max_length=18)
    jurisdiction = models.CharField(_("管辖区域代码"), max_length=9)
    holder_name = models.CharField(_("持证主体"), max_length=120)
    holder_code = models.CharField(_("持证主体代码"), max_length=18, db_index=True)
    holder_code_type = models.CharField(_("持证主体代码类型"), max_length=12, choices=HolderCodeType.choices)
    issued_on = models.DateField(_("颁证日期"))
    valid_from = models.DateField(_("有效期起始"))
    valid_to = models.DateField(_("有效期截止"), null=True, blank=True)
    face = models.JSONField(_("照面信息"), default=dict)
    previous = models.ForeignKey(
        "self",
        verbose_name=_("关联证照（上一版本）"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="next_versions",
    )
    version = models.PositiveSmallIntegerField(_("版本"), default=1)
    status = models.CharField(
        _("状态"), max_length=12, choices=LicenceStatus.choices, default=LicenceStatus.VALID
    )
    status_reason = models.CharField(_("状态说明"), max_length=200, blank=True)
    case = models.ForeignKey(
        "cases.Case",
        verbose_name=_("办件"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="licences",
    )
    # The signed file, exactly as handed to the holder: {"licence": …, "proof": …}.
    document = models.JSONField(_("签章文件"), default=dict)
    seal_key = models.ForeignKey(SealKey, on_delete=models.PROTECT, related_name="licences")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("电子证照")
        verbose_name_plural = _("电子证照")
        ordering = ["-issued_on", "-id"]
        indexes = [models.Index(fields=["holder_code", "licence_type", "status"])]

    def __str__(self) -> str:
        return f"{self.name} {self.number}"

    @property
    def expired(self) -> bool:
        return self.valid_to is not None and self.valid_to < timezone.localdate()


class LicenceShare(models.Model):
    """A consented, time-limited, revocable link through which a department or a third party sees one
    licence (and can verify it)."""

    token = models.CharField(max_length=64, unique=True, editable=False)
    licence = models.ForeignKey(Licence, on_delete=models.CASCADE, related_name="shares")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    recipient = models.CharField(_("分享给"), max_length=100)
    purpose = models.CharField(_("用途"), max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(_("失效时间"))
    revoked_at = models.DateTimeField(_("撤回时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("证照分享")
        verbose_name_plural = _("证照分享")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.licence} → {self.recipient}"

    @property
    def active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class LicenceUse(models.Model):
    """Every use of a licence, shown to its holder: who, when, for what (a case, a share, a showing)."""

    SHOWN, SHARED_VIEW, CASE_MATERIAL, VERIFIED = "shown", "shared_view", "case_material", "verified"
    KINDS = [
        (SHOWN, _("亮证")),
        (SHARED_VIEW, _("通过分享链接查看")),
        (CASE_MATERIAL, _("作为申请材料（免提交）")),
        (VERIFIED, _("被核验")),
    ]

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    licence = models.ForeignKey(Licence, on_delete=models.CASCADE, related_name="uses")
    kind = models.CharField(_("用途"), max_length=16, choices=KINDS)
    at = models.DateTimeField(_("时间"), default=timezone.now)
    by = models.CharField(_("使用方"), max_length=120)
    department = models.ForeignKey(
        "identity.Department", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    case = models.ForeignKey("cases.Case", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    share = models.ForeignKey(
        LicenceShare, null=True, blank=True, on_delete=models.SET_NULL, related_name="uses"
    )
    purpose = models.CharField(_("事由"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("证照使用记录")
        verbose_name_plural = _("证照使用记录")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.by} {self.kind}"
