"""Messages to staff go through the outbox: sent after the commit, never for a rolled-back change, and
retried with a growing wait while the SMS gateway fails."""

import datetime as dt

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from tongban.core import notify
from tongban.core.models import OutboxMessage

pytestmark = pytest.mark.django_db


def _sms_to(phone: str) -> list[str]:
    return [m["text"] for m in notify.outbox if m["to"] == phone]


def test_a_message_goes_after_the_commit_and_once(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        notify.queue_message(channel=OutboxMessage.SMS, to="13900000001", text="提醒一")
        assert _sms_to("13900000001") == []  # not before the commit
    assert _sms_to("13900000001") == ["提醒一"]
    assert OutboxMessage.objects.get().sent_at is not None
    assert notify.send_outbox() == 0 and _sms_to("13900000001") == ["提醒一"]


def test_a_rolled_back_change_sends_nothing(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        notify.queue_message(channel=OutboxMessage.SMS, to="13900000002", text="不该发出")
        raise RuntimeError
    assert not OutboxMessage.objects.exists() and notify.send_outbox() == 0
    assert _sms_to("13900000002") == []


def test_email_goes_through_django_mail():
    notify.queue_message(
        channel=OutboxMessage.EMAIL, to="officer@example.gov.cn", text="正文", subject="主题"
    )
    assert notify.send_outbox() == 1
    assert [(m.subject, m.body, m.to) for m in mail.outbox] == [("主题", "正文", ["officer@example.gov.cn"])]


def test_a_failing_gateway_delays_the_message_without_losing_it_or_holding_up_others(sms_outage):
    notify.queue_message(channel=OutboxMessage.SMS, to="13900000003", text="短信")
    notify.queue_message(channel=OutboxMessage.EMAIL, to="a@example.gov.cn", text="邮件", subject="s")
    sms_outage.down()
    assert notify.send_outbox() == 1  # the email still went
    failed = OutboxMessage.objects.get(channel=OutboxMessage.SMS)
    assert failed.sent_at is None and failed.attempts == 1 and "gateway unreachable" in failed.last_error
    assert failed.next_attempt_at - timezone.now() > dt.timedelta(seconds=20)
    assert notify.send_outbox() == 0  # not due yet

    sms_outage.up()
    OutboxMessage.objects.filter(pk=failed.pk).update(next_attempt_at=timezone.now())
    assert notify.send_outbox() == 1 and _sms_to("13900000003") == ["短信"]


def test_a_message_is_given_up_after_the_last_attempt_with_growing_waits(sms_outage):
    sms_outage.down()
    notify.queue_message(channel=OutboxMessage.SMS, to="13900000004", text="x")
    waits = []
    for _ in range(notify.MAX_ATTEMPTS + 2):
        OutboxMessage.objects.update(next_attempt_at=timezone.now())
        before = timezone.now()
        notify.send_outbox()
        message = OutboxMessage.objects.get()
        waits.append(round((message.next_attempt_at - before).total_seconds()))
    assert message.attempts == notify.MAX_ATTEMPTS and message.sent_at is None
    assert waits[:4] == [30, 60, 120, 240] and max(waits) == notify.LONGEST_RETRY_SECONDS


def _operator_client(**permissions):
    from django.test import Client

    from tongban.identity.tests.factories import StaffFactory
    from tongban.testing import login_staff

    operator = StaffFactory(totp=True, is_staff=True, **permissions)
    client = Client()
    assert login_staff(client, operator).status_code == 302
    return client


def test_the_admin_shows_messages_masked_and_can_send_a_given_up_one_again():
    admin_client = _operator_client(is_superuser=True)
    OutboxMessage.objects.create(
        channel=OutboxMessage.SMS, recipient="13912345678", text="t", attempts=notify.MAX_ATTEMPTS
    )
    page = admin_client.get("/admin/core/outboxmessage/").content.decode()
    assert "139****5678" in page and "13912345678" not in page
    pk = OutboxMessage.objects.get().pk
    admin_client.post(
        "/admin/core/outboxmessage/", {"action": "send_again", "_selected_action": [pk]}, follow=True
    )
    assert notify.send_outbox() == 1 and _sms_to("13912345678") == ["t"]


def test_an_operator_who_may_only_view_cannot_send_again():
    from django.contrib.auth.models import Permission

    client = _operator_client()
    user = OutboxMessage._meta.apps.get_model("identity", "User").objects.get(is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_outboxmessage"))
    OutboxMessage.objects.create(channel=OutboxMessage.SMS, recipient="13912345679", text="t", attempts=12)
    page = client.get("/admin/core/outboxmessage/")
    assert page.status_code == 200 and "send_again" not in page.content.decode()
    pk = OutboxMessage.objects.get().pk
    client.post("/admin/core/outboxmessage/", {"action": "send_again", "_selected_action": [pk]})
    assert OutboxMessage.objects.get().attempts == 12 and notify.send_outbox() == 0
