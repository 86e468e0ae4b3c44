from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .constants import AuditEventType, AuditOutcome


class AuditEvent(models.Model):
    """Who did what, when, from where. Rows are only ever inserted (the admin is read-only)."""

    at = models.DateTimeField(_("时间"), db_index=True)
    # No choices= on the column: each app declares its event types as constants, and a new type needs no
    # migration. The label comes from the constants (get_event_type_display).
    event_type = models.CharField(_("事件"), max_length=40, db_index=True)
    outcome = models.CharField(
        _("结果"), max_length=10, choices=AuditOutcome.choices, default=AuditOutcome.SUCCESS
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # What the actor typed or was known as at the time; kept when the account is later removed.
    actor_label = models.CharField(_("操作人标识"), max_length=150, blank=True)
    ip_address = models.GenericIPAddressField(_("来源地址"), null=True, blank=True)
    user_agent = models.CharField(_("客户端"), max_length=300, blank=True)
    request_id = models.CharField(_("请求编号"), max_length=64, blank=True)
    department = models.ForeignKey(
        "identity.Department",
        verbose_name=_("相关部门"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    target_type = models.CharField(_("对象类型"), max_length=60, blank=True)
    target_id = models.CharField(_("对象标识"), max_length=64, blank=True)
    extra_data = models.JSONField(_("详情"), default=dict, blank=True)

    class Meta:
        verbose_name = _("审计记录")
        verbose_name_plural = _("审计记录")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["actor", "-at"]), models.Index(fields=["department", "-at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.get_event_type_display()} {self.actor_label}"

    def get_event_type_display(self) -> str:
        try:
            return str(AuditEventType(self.event_type).label)
        except ValueError:
            return self.event_type


class CalendarYear(models.Model):
    """A year the working-day calendar knows. Without a row, deadline arithmetic in that year is refused."""

    OFFICIAL = "official"
    PROVISIONAL = "provisional"
    STATUS_CHOICES = [(OFFICIAL, _("国务院公布")), (PROVISIONAL, _("暂定（尚未公布，按周末和固定节日）"))]

    year = models.PositiveSmallIntegerField(_("年份"), primary_key=True)
    status = models.CharField(_("状态"), max_length=12, choices=STATUS_CHOICES, default=OFFICIAL)
    source = models.CharField(_("来源"), max_length=200, blank=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("工作日历年度")
        verbose_name_plural = _("工作日历年度")
        ordering = ["year"]

    def __str__(self) -> str:
        return f"{self.year}（{self.get_status_display()}）"


class CalendarDay(models.Model):
    """An exception to the weekday rule: a holiday on a weekday, or a make-up working day (调休) on a weekend."""

    date = models.DateField(_("日期"), primary_key=True)
    is_workday = models.BooleanField(_("是否工作日"))
    name = models.CharField(_("说明"), max_length=40, blank=True)

    class Meta:
        verbose_name = _("节假日与调休")
        verbose_name_plural = _("节假日与调休")
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date} {_('上班') if self.is_workday else _('休息')} {self.name}"


class OutboxMessage(models.Model):
    """An SMS or email (to staff, or a case notice to an applicant), written in the transaction that decided
    to send it and sent after it commits by a background task (``core.notify.send_outbox``): a rolled-back
    change sends nothing, and a gateway that is down delays the message instead of losing it."""

    SMS = "sms"
    EMAIL = "email"
    CHANNEL_CHOICES = [(SMS, _("短信")), (EMAIL, _("电子邮件"))]

    channel = models.CharField(_("渠道"), max_length=8, choices=CHANNEL_CHOICES)
    recipient = models.CharField(_("接收方"), max_length=254)
    subject = models.CharField(_("主题"), max_length=200, blank=True)
    text = models.TextField(_("内容"))
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)
    next_attempt_at = models.DateTimeField(_("下次发送时间"), default=timezone.now)
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("失败次数"), default=0)
    last_error = models.CharField(_("最近错误"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("待发消息")
        verbose_name_plural = _("待发消息")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(sent_at__isnull=True),
                name="outbox_pending",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.created_at:%Y-%m-%d %H:%M}"
