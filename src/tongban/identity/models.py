from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tongban.core import codes
from tongban.core.validators import validate_area_code, validate_resident_id, validate_uscc

from .constants import (
    AccountType,
    AreaLevel,
    OrganisationType,
    OrganisationVerification,
    RealNameLevel,
    StaffRoleName,
)


class Area(models.Model):
    """An administrative division: GB/T 2260 (6 digits) down to townships (9 digits, GB/T 10114)."""

    code = models.CharField(_("区划代码"), max_length=9, unique=True, validators=[validate_area_code])
    name = models.CharField(_("名称"), max_length=60)
    level = models.CharField(_("层级"), max_length=10, choices=AreaLevel.choices)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("上级区划"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )

    class Meta:
        verbose_name = _("行政区划")
        verbose_name_plural = _("行政区划")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name}（{self.code}）"


class Department(models.Model):
    """A government department (部门) at one level of one area, with its own credit code."""

    code = models.SlugField(_("部门编码"), max_length=40, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    short_name = models.CharField(_("简称"), max_length=30)
    sector = models.CharField(_("条线"), max_length=30, help_text=_("如 公安、民政、市场监管"))
    uscc = models.CharField(_("统一社会信用代码"), max_length=18, unique=True, validators=[validate_uscc])
    area = models.ForeignKey(
        Area, verbose_name=_("行政区划"), on_delete=models.PROTECT, related_name="departments"
    )
    level = models.CharField(_("层级"), max_length=10, choices=AreaLevel.choices)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("上级部门"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("部门")
        verbose_name_plural = _("部门")
        ordering = ["area__code", "code"]

    def __str__(self) -> str:
        return self.name


class Person(models.Model):
    """A natural person known to the platform (an account holder, a legal representative, an agent)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("姓名"), max_length=60)
    id_number = models.CharField(
        _("公民身份号码"), max_length=18, unique=True, validators=[validate_resident_id]
    )
    phone = models.CharField(_("手机号码"), max_length=20, blank=True)
    real_name_level = models.PositiveSmallIntegerField(
        _("实名认证等级"), choices=RealNameLevel.choices, default=RealNameLevel.SELF_DECLARED
    )
    verified_at = models.DateTimeField(_("核验时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)

    class Meta:
        verbose_name = _("自然人")
        verbose_name_plural = _("自然人")

    def __str__(self) -> str:
        return f"{self.name}（{self.masked_id_number}）"

    @property
    def resident_id(self) -> codes.ResidentId:
        return codes.ResidentId(self.id_number)

    @property
    def birth_date(self) -> dt.date:
        return self.resident_id.birth_date

    @property
    def sex(self) -> str:
        return self.resident_id.sex

    @property
    def masked_id_number(self) -> str:
        return codes.mask_id_number(self.id_number)

    @property
    def masked_phone(self) -> str:
        return codes.mask_phone(self.phone)

    @property
    def is_verified(self) -> bool:
        """Whether the account holder's claim to this ID number was checked (population registry with the
        proven phone, or in person). A self-declared account may hold anyone's ID number, so the number is
        then no key to the person's licences or data."""
        return self.real_name_level >= RealNameLevel.REGISTRY_VERIFIED


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, username: str, password: str | None = None, **extra: object) -> User:
        user = self.model(username=username, **extra)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_superuser(self, username: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("account_type", AccountType.STAFF)
        extra.setdefault("display_name", username)
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self.create_user(username, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A login account. Public accounts belong to a Person and log in with the ID number or phone;
    staff accounts log in on the staff page with a second factor."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    username = models.CharField(_("登录名"), max_length=150, unique=True)
    account_type = models.CharField(_("账号类型"), max_length=10, choices=AccountType.choices)
    display_name = models.CharField(_("显示名称"), max_length=60)
    person = models.OneToOneField(
        Person,
        verbose_name=_("自然人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="account",
    )
    phone = models.CharField(_("登录手机号"), max_length=20, null=True, blank=True, unique=True)
    email = models.EmailField(_("电子邮箱"), blank=True)
    is_active = models.BooleanField(_("有效"), default=True)
    is_staff = models.BooleanField(_("可进入运维后台"), default=False)
    date_joined = models.DateTimeField(_("注册时间"), default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "username"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("账号")
        verbose_name_plural = _("账号")
        constraints = [
            models.CheckConstraint(
                condition=Q(account_type=AccountType.STAFF) | Q(person__isnull=False),
                name="public_account_has_person",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name or self.username

    def get_full_name(self) -> str:
        return self.display_name

    def get_short_name(self) -> str:
        return self.display_name

    @property
    def is_public(self) -> bool:
        return self.account_type == AccountType.PUBLIC

    @property
    def is_civil_servant(self) -> bool:
        return self.account_type == AccountType.STAFF


class Organisation(models.Model):
    """An enterprise, institution or other organisation identified by its unified social credit code."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    uscc = models.CharField(_("统一社会信用代码"), max_length=18, unique=True, validators=[validate_uscc])
    name = models.CharField(_("名称"), max_length=200)
    org_type = models.CharField(_("类型"), max_length=30, choices=OrganisationType.choices)
    legal_representative = models.ForeignKey(
        Person,
        verbose_name=_("法定代表人"),
        on_delete=models.PROTECT,
        related_name="represented_organisations",
    )
    area = models.ForeignKey(
        Area, verbose_name=_("所在区划"), null=True, blank=True, on_delete=models.PROTECT
    )
    address = models.CharField(_("住所"), max_length=200, blank=True)
    established_on = models.DateField(_("成立日期"), null=True, blank=True)
    verification = models.CharField(
        _("核验状态"),
        max_length=20,
        choices=OrganisationVerification.choices,
        default=OrganisationVerification.SELF_DECLARED,
    )
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)

    class Meta:
        verbose_name = _("法人及其他组织")
        verbose_name_plural = _("法人及其他组织")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class OrganisationAgent(models.Model):
    """An authorised agent (经办人): a person allowed to act for an organisation until a date or revocation."""

    organisation = models.ForeignKey(
        Organisation, verbose_name=_("组织"), on_delete=models.CASCADE, related_name="agents"
    )
    person = models.ForeignKey(
        Person, verbose_name=_("经办人"), on_delete=models.PROTECT, related_name="agencies"
    )
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("授权人"), on_delete=models.PROTECT, related_name="+"
    )
    granted_at = models.DateTimeField(_("授权时间"), default=timezone.now)
    valid_until = models.DateField(_("有效期至"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("撤销时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("经办人授权")
        verbose_name_plural = _("经办人授权")
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "person"],
                condition=Q(revoked_at__isnull=True),
                name="one_active_agency",
            )
        ]

    def __str__(self) -> str:
        return f"{self.person.name} → {self.organisation.name}"

    def is_valid_on(self, day: dt.date) -> bool:
        return self.revoked_at is None and (self.valid_until is None or day <= self.valid_until)


class StaffRole(models.Model):
    """A role held by a staff account in one department; permissions follow from (role, department)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("工作人员"),
        on_delete=models.CASCADE,
        related_name="staff_roles",
    )
    department = models.ForeignKey(
        Department, verbose_name=_("部门"), on_delete=models.CASCADE, related_name="staff_roles"
    )
    role = models.CharField(_("角色"), max_length=30, choices=StaffRoleName.choices)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("授权人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    granted_at = models.DateTimeField(_("授权时间"), default=timezone.now)

    class Meta:
        verbose_name = _("工作人员角色")
        verbose_name_plural = _("工作人员角色")
        constraints = [
            models.UniqueConstraint(fields=["user", "department", "role"], name="unique_staff_role")
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.department.short_name} · {self.get_role_display()}"


class SystemClient(models.Model):
    """Another government system registered as an OAuth 2 client, owned by a department."""

    application = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        verbose_name=_("OAuth 应用"),
        on_delete=models.CASCADE,
        related_name="system_client",
    )
    department = models.ForeignKey(
        Department, verbose_name=_("所属部门"), on_delete=models.PROTECT, related_name="system_clients"
    )
    allowed_scopes = models.CharField(_("允许的权限范围"), max_length=500, help_text=_("以空格分隔"))
    description = models.TextField(_("用途说明"), blank=True)
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)

    class Meta:
        verbose_name = _("系统接入客户端")
        verbose_name_plural = _("系统接入客户端")

    def __str__(self) -> str:
        return f"{self.application.name}（{self.department.short_name}）"

    @property
    def scope_set(self) -> set[str]:
        return set(self.allowed_scopes.split())


class SmsCode(models.Model):
    """A one-time code sent by SMS to prove that whoever asked holds the phone. Only a keyed hash of the
    code is kept; it is bound to what it was asked for (``subject``: a keyed hash of, for a registration,
    the ID number and name), expires, and dies after a few wrong tries or once a newer code is sent."""

    REGISTER = "register"
    PURPOSES = [(REGISTER, _("注册账号"))]

    phone = models.CharField(_("手机号码"), max_length=20)
    purpose = models.CharField(_("用途"), max_length=20, choices=PURPOSES)
    subject = models.CharField(_("用于"), max_length=64)
    code_hash = models.CharField(_("验证码摘要"), max_length=64)
    created_at = models.DateTimeField(_("发送时间"), default=timezone.now)
    expires_at = models.DateTimeField(_("失效时间"))
    attempts = models.PositiveSmallIntegerField(_("错误次数"), default=0)
    used_at = models.DateTimeField(_("使用或作废时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("短信验证码")
        verbose_name_plural = _("短信验证码")
        indexes = [models.Index(fields=["phone", "purpose", "subject"], name="sms_code_lookup")]

    def __str__(self) -> str:
        return f"{codes.mask_phone(self.phone)} · {self.get_purpose_display()}"
