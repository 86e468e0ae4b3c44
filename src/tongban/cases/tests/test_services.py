import datetime as dt
import threading

import pytest
from django.db import connection

from tongban.cases import services
from tongban.cases.constants import Action, CaseStatus, Outcome, TaskStatus
from tongban.cases.models import Case, CaseTask
from tongban.cases.services import CaseConflict, CaseError
from tongban.core import notify, workdays
from tongban.core.constants import AuditEventType
from tongban.core.models import AuditEvent
from tongban.identity.tests.factories import ROLE, StaffFactory

from .conftest import act, food_answers, layout, staff

pytestmark = pytest.mark.django_db


def open_steps(case):
    return sorted(
        CaseTask.objects.filter(case=case, status=TaskStatus.OPEN).values_list("step_key", flat=True)
    )


def test_submission_prefills_verified_data_and_checks_the_form(city):
    citizen = city["citizen"]
    with pytest.raises(CaseError) as err:
        services.case_submit(applicant=citizen, item=city["food"], answers={"seats": "many"})
    assert err.value.problems["shop_name"] == "请填写“店铺名称”。"
    assert err.value.problems["seats"] == "“餐位数”请填写 0–10000 之间的整数。"  # numbers say their range
    assert not Case.objects.exists()
    case = services.case_submit(
        applicant=citizen,
        item=city["food"],
        answers=food_answers(applicant_id_number="110101199003074477"),
        uploads=layout(),
    )  # a forged ID
    assert case.answers["applicant_id_number"] == citizen.person.id_number
    assert case.answers["applicant_name"] == citizen.person.name
    assert case.status == CaseStatus.SUBMITTED and len(case.number) == 19 and len(case.query_code) == 6
    assert open_steps(case) == ["accept"]
    assert AuditEvent.objects.filter(event_type=AuditEventType.CASE_SUBMITTED, actor=citizen).count() == 1


def test_double_submission_with_the_same_key_creates_one_case(city):
    first = services.case_submit(
        applicant=city["citizen"],
        item=city["food"],
        answers=food_answers(),
        idempotency_key="tab-1",
        uploads=layout(),
    )
    again = services.case_submit(
        applicant=city["citizen"],
        item=city["food"],
        answers=food_answers(),
        idempotency_key="tab-1",
        uploads=layout(),
    )
    assert first.pk == again.pk and Case.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_with_the_same_key_create_one_case(city):
    results, errors = [], []

    def submit():
        try:
            results.append(
                services.case_submit(
                    applicant=city["citizen"],
                    item=city["food"],
                    uploads=layout(),
                    answers=food_answers(),
                    idempotency_key="retry-after-timeout",
                ).pk
            )
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(set(results)) == 1 and Case.objects.filter(idempotency_key="retry-after-timeout").count() == 1


def test_parallel_review_joins_before_decision(city, django_capture_on_commit_callbacks):
    case = services.case_submit(
        applicant=city["citizen"], item=city["food"], answers=food_answers(), uploads=layout()
    )
    with django_capture_on_commit_callbacks(execute=True):
        case = act(city, case, "accept", Action.ACCEPT)
    assert case.status == CaseStatus.IN_PROGRESS
    assert case.committed_due == workdays.calendar().add(case.accepted_on, 5)
    assert open_steps(case) == ["review", "review_xfzd"]  # market and fire brigade at the same time
    act(city, case, "review_xfzd", Action.PASS)
    assert open_steps(case) == ["review"]  # the decision waits for both
    act(city, case, "review", Action.PASS)
    assert open_steps(case) == ["decide"]
    case = act(city, case, "decide", Action.APPROVE)
    assert case.status == CaseStatus.DECIDED and case.outcome == Outcome.APPROVED
    case = act(city, case, "close", Action.CLOSE)
    assert case.status == CaseStatus.CLOSED and case.closed_at
    timeline = list(case.events.filter(public=True).values_list("message", flat=True))
    assert (
        timeline[0].startswith("已提交") and "市消防支队" in " ".join(timeline) and timeline[-1] == "已办结"
    )
    assert any("【通办】" in m["text"] and case.number in m["text"] for m in notify.outbox)


def test_wrong_department_or_role_is_refused_and_audited(city):
    case = services.case_submit(
        applicant=city["citizen"], item=city["food"], answers=food_answers(), uploads=layout()
    )
    task = CaseTask.objects.get(case=case, step_key="accept")
    for actor in (
        staff(city, "ljs-wjw", ROLE.INTAKE_CLERK),
        staff(city, "ljs-scjgj", ROLE.APPROVER),
        city["citizen"],
    ):
        with pytest.raises(CaseError) as err:
            services.task_act(actor=actor, task=task, action=Action.ACCEPT)
        assert err.value.code == "forbidden"
    assert AuditEvent.objects.filter(event_type=AuditEventType.PERMISSION_DENIED).count() == 3
    assert Case.objects.get(pk=case.pk).status == CaseStatus.SUBMITTED


def test_two_officers_on_one_task_only_one_succeeds(city):
    case = services.case_submit(
        applicant=city["citizen"], item=city["food"], answers=food_answers(), uploads=layout()
    )
    task = CaseTask.objects.get(case=case, step_key="accept")
    colleague = StaffFactory(roles=[(city["market"], ROLE.INTAKE_CLERK)])
    seen = task.lock_version
    services.task_act(
        actor=staff(city, "ljs-scjgj", ROLE.INTAKE_CLERK),
        task=task,
        action=Action.ACCEPT,
        expected_version=seen,
    )
    with pytest.raises(CaseConflict):
        services.task_act(
            actor=colleague, task=task, action=Action.REFUSE, reason="材料不全", expected_version=seen
        )
    assert Case.objects.get(pk=case.pk).status == CaseStatus.IN_PROGRESS


@pytest.mark.django_db(transaction=True)
def test_concurrent_officers_race_on_one_task(city):
    case = services.case_submit(
        applicant=city["citizen"], item=city["food"], answers=food_answers(), uploads=layout()
    )
    task = CaseTask.objects.get(case=case, step_key="accept")
    officers = [staff(city, "ljs-scjgj", ROLE.INTAKE_CLERK)] + [
        StaffFactory(roles=[(city["market"], ROLE.INTAKE_CLERK)]) for _ in range(3)
    ]
    outcomes = []

    def accept(officer):
        try:
            services.task_act(
                actor=officer, task=CaseTask.objects.get(pk=task.pk), action=Action.ACCEPT, expected_version=0
            )
            outcomes.append("ok")
        except CaseConflict:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=accept, args=(o,)) for o in officers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "ok"]
    assert Case.objects.get(pk=case.pk).events.filter(kind="accepted").count() == 1


def test_reasons_are_required_for_refusals(city):
    case = services.case_submit(
        applicant=city["citizen"], item=city["food"], answers=food_answers(), uploads=layout()
    )
    with pytest.raises(CaseError) as err:
        act(city, case, "accept", Action.REFUSE, reason=" ")
    assert "reason" in err.value.problems
    case = act(city, case, "accept", Action.REFUSE, reason="不属于本部门职责")
    assert case.status == CaseStatus.REFUSED
    assert not CaseTask.objects.filter(case=case, status__in=["open", "waiting"]).exists()


def test_correction_pauses_the_clock_and_extends_the_deadline(city):
    case = services.case_submit(
        applicant=city["citizen"], item=city["food"], answers=food_answers(), uploads=layout()
    )
    case = act(city, case, "accept", Action.ACCEPT)
    due = case.committed_due
    with pytest.raises(CaseError):
        act(city, case, "review", Action.CORRECTION, reason="材料不全", correction_items=[])
    case = act(
        city,
        case,
        "review",
        Action.CORRECTION,
        reason="材料不全",
        correction_items=["经营场所平面图", "从业人员健康证明"],
    )
    assert case.status == CaseStatus.CORRECTION and case.correction_items == [
        "经营场所平面图",
        "从业人员健康证明",
    ]
    # The applicant takes a while: pretend the request was made 3 working days ago.
    cal = workdays.calendar()
    three_back = case.accepted_on
    while cal.between(three_back, case.accepted_on) < 3:
        three_back -= dt.timedelta(days=1)
    Case.objects.filter(pk=case.pk).update(paused_since=three_back)
    case = services.case_correct(applicant=city["citizen"], case=case, answers={"seats": 30})
    assert case.status == CaseStatus.IN_PROGRESS and case.answers["seats"] == 30
    assert case.paused_days == 3 and case.committed_due == cal.add(due, 3)
    assert "review" in open_steps(case)
    with pytest.raises(CaseConflict):
        services.case_correct(applicant=city["citizen"], case=case, answers={})


def test_withdraw_before_decision_only(city):
    case = services.case_submit(
        applicant=city["citizen"], item=city["food"], answers=food_answers(), uploads=layout()
    )
    case = services.case_withdraw(applicant=city["citizen"], case=case)
    assert case.status == CaseStatus.WITHDRAWN
    other = services.case_submit(applicant=city["citizen"], item=city["birth"], answers={"baby_name": "小明"})
    for step, action in [("accept", Action.ACCEPT), ("review", Action.PASS), ("decide", Action.REJECT)]:
        other = act(city, other, step, action, reason="不符合条件")
    with pytest.raises(CaseError):
        services.case_withdraw(applicant=city["citizen"], case=other)


def test_submission_against_a_withdrawn_item_is_refused(city):
    from tongban.catalog import services as catalog_services

    admin = StaffFactory(roles=[(city["market"], ROLE.PLATFORM_ADMIN)])
    catalog_services.item_withdraw(acting_user=admin, item=city["food"], reason="已取消")
    with pytest.raises(CaseError) as err:
        services.case_submit(
            applicant=city["citizen"], item=city["food"], answers=food_answers(), uploads=layout()
        )
    assert err.value.code == "withdrawn"


def test_deadline_levels(city):
    case = services.case_submit(
        applicant=city["citizen"], item=city["food"], answers=food_answers(), uploads=layout()
    )
    case = act(city, case, "accept", Action.ACCEPT)
    cal = workdays.calendar()
    assert services.deadline_state(case, case.accepted_on) == (5, "green")
    assert services.deadline_state(case, cal.add(case.accepted_on, 2))[1] == "yellow"
    assert services.deadline_state(case, cal.add(case.accepted_on, 4))[1] == "red"
    assert services.deadline_state(case, cal.add(case.accepted_on, 6)) == (-1, "overdue")


def test_instant_approval_when_every_rule_holds(city):
    from tongban.catalog.demo_fields import FIELDS, PERSON

    from .conftest import publish

    rules = [
        {"label": "已实名核验", "condition": {"field": "verified.real_name_level", "op": "gte", "value": 2}},
        {"label": "餐位不超过50个", "condition": {"field": "seats", "op": "lte", "value": 50}},
    ]
    form = {
        "type": "object",
        "required": ["seats"],
        "properties": {**{k: FIELDS[k] for k in PERSON}, "seats": FIELDS["seats"]},
    }
    item = publish(city["market"], "010000900000", name="小餐饮登记", form_schema=form, decision_rules=rules)
    quick = services.case_submit(applicant=city["citizen"], item=item, answers={"seats": 20})
    assert quick.status == CaseStatus.CLOSED and quick.outcome == Outcome.APPROVED
    assert "已实名核验" in quick.decision_reason and "餐位不超过50个" in quick.decision_reason
    assert not CaseTask.objects.filter(case=quick).exclude(status=TaskStatus.DONE).exists()
    slow = services.case_submit(applicant=city["citizen"], item=item, answers={"seats": 80})
    assert slow.status == CaseStatus.SUBMITTED and open_steps(slow) == ["accept"]
    note = slow.events.get(kind="instant")
    assert not note.public and "餐位不超过50个" in note.message


def test_no_instant_approval_for_an_account_opened_over_someone_elses_record(city):
    """Issue 15 #3: a stranger registered with the name and ID number of a person verified in person (who
    had no account) and passed 秒批 as them. The new account is self-declared, so the rule fails."""
    from django.utils import timezone

    from tongban.catalog.demo_fields import FIELDS, PERSON
    from tongban.identity import services as identity_services
    from tongban.identity.constants import RealNameLevel
    from tongban.identity.tests.factories import PersonFactory
    from tongban.testing import sms_code

    from .conftest import publish

    victim = PersonFactory(real_name_level=RealNameLevel.IN_PERSON, verified_at=timezone.now())
    identity_services.registration_request(name=victim.name, id_number=victim.id_number, phone="13500000009")
    stranger = identity_services.person_register(
        name=victim.name,
        id_number=victim.id_number,
        phone="13500000009",
        password="Pass-word-2026",
        code=sms_code("13500000009"),
    )
    rules = [
        {"label": "已实名核验", "condition": {"field": "verified.real_name_level", "op": "gte", "value": 2}},
    ]
    form = {"type": "object", "properties": {k: FIELDS[k] for k in PERSON}}
    item = publish(city["market"], "010000900000", name="小餐饮登记", form_schema=form, decision_rules=rules)
    assert services.verified_data(stranger, None)["verified.real_name_level"] == RealNameLevel.SELF_DECLARED
    case = services.case_submit(applicant=stranger, item=item, answers={})
    assert case.status == CaseStatus.SUBMITTED and case.outcome != Outcome.APPROVED
    assert "已实名核验" in case.events.get(kind="instant").message


def test_rules_must_read_known_data(city):
    from tongban.catalog.validation import CatalogError

    from .conftest import publish

    with pytest.raises(CatalogError) as err:
        publish(
            city["market"],
            "010000800000",
            decision_rules=[
                {"label": "x", "condition": {"field": "verified.salary", "op": "gt", "value": 1}}
            ],
        )
    assert "verified.salary" in err.value.message


def test_deadline_sweep_notes_once_a_day_and_reports_per_department(city):
    case = services.case_submit(
        applicant=city["citizen"], item=city["food"], answers=food_answers(), uploads=layout()
    )
    case = act(city, case, "accept", Action.ACCEPT)
    cal = workdays.calendar()
    late = cal.add(case.committed_due, 2)
    assert services.deadline_report(on=late) == {"ljs-scjgj": {"red": 0, "overdue": 1}}
    assert services.deadline_sweep(on=late) == {"ljs-scjgj": {"red": 0, "overdue": 1}}
    services.deadline_sweep(on=late)  # a second run the same day adds no second note
    notes = case.events.filter(kind="comment", public=False, data__deadline="overdue")
    assert notes.count() == 1 and "已超期 2 个工作日" in notes.get().message
    assert services.deadline_report(on=case.accepted_on) == {}


def test_deadline_sweep_runs_as_a_celery_task(city):
    from tongban.cases.tasks import deadline_sweep_task

    assert deadline_sweep_task.delay().get(timeout=10) == {}


def test_answers_and_missing_materials_are_reported_together(city):
    with pytest.raises(CaseError) as err:
        services.case_submit(applicant=city["citizen"], item=city["food"], answers={"seats": 10})
    assert set(err.value.problems) == {"shop_name", "material:layout"}
    assert err.value.message == "申请信息有 2 处需要修改。"
    assert not Case.objects.exists()


def test_notices_are_an_outbox_sent_by_the_background_task(city, settings):
    from tongban.cases.models import CaseEvent
    from tongban.cases.notify import send_pending_notices

    settings.CELERY_TASK_ALWAYS_EAGER = False  # production: a broker, and beat sends the notices
    sent = len(notify.outbox)
    case = services.case_submit(
        applicant=city["citizen"], item=city["food"], answers=food_answers(), uploads=layout()
    )
    assert len(notify.outbox) == sent  # the request did not wait for the SMS gateway
    assert CaseEvent.objects.filter(case=case, notice_pending=True).count() == 1
    assert send_pending_notices() == 1  # moved to the outbox
    assert send_pending_notices() == 0  # once
    assert not CaseEvent.objects.filter(notice_pending=True).exists()
    assert notify.send_outbox() == 1
    assert case.number in notify.outbox[-1]["text"] and notify.outbox[-1]["to"] == city["citizen"].phone


def test_an_sms_outage_delays_case_notices_without_losing_them(city, settings, sms_outage):
    """The attack on availability: notices were marked sent although the channel raised."""
    from django.utils import timezone

    from tongban.cases.notify import send_pending_notices
    from tongban.core.models import OutboxMessage

    settings.CELERY_TASK_ALWAYS_EAGER = False
    sms_outage.down()
    case = services.case_submit(
        applicant=city["citizen"], item=city["food"], answers=food_answers(), uploads=layout()
    )
    assert send_pending_notices() == 1
    assert notify.send_outbox() == 0  # the gateway is down
    waiting = OutboxMessage.objects.get(sent_at__isnull=True)
    assert waiting.recipient == city["citizen"].phone and case.number in waiting.text
    assert waiting.attempts == 1 and "gateway unreachable" in waiting.last_error

    sms_outage.up()  # the gateway is back; the retry is due
    OutboxMessage.objects.filter(pk=waiting.pk).update(next_attempt_at=timezone.now())
    assert notify.send_outbox() == 1
    assert [m["text"] for m in notify.outbox if m["to"] == city["citizen"].phone] == [waiting.text]


def test_email_notices_go_through_the_outbox_too(city, settings):
    from django.core import mail

    from tongban.cases.notify import send_pending_notices

    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.TONGBAN_PLUGINS = {
        **settings.TONGBAN_PLUGINS,
        "notify_channels": [{"id": "sms"}, {"id": "email"}],
    }
    city["citizen"].email = "citizen@example.cn"
    city["citizen"].save(update_fields=["email"])
    case = services.case_submit(
        applicant=city["citizen"], item=city["food"], answers=food_answers(), uploads=layout()
    )
    assert send_pending_notices() == 1 and notify.send_outbox() == 2
    assert [(m.subject, m.to) for m in mail.outbox] == [(f"办件进度 {case.number}", ["citizen@example.cn"])]


def test_a_claimed_task_is_the_claimers_alone(city):
    case = services.case_submit(
        applicant=city["citizen"], item=city["food"], answers=food_answers(), uploads=layout()
    )
    task = CaseTask.objects.get(case=case, step_key="accept")
    clerk = staff(city, "ljs-scjgj", ROLE.INTAKE_CLERK)
    colleague = StaffFactory(roles=[(city["market"], ROLE.INTAKE_CLERK)], display_name="同科室同事")
    services.task_claim(actor=clerk, task=task)
    audit = AuditEvent.objects.get(event_type=AuditEventType.CASE_ACTION, extra_data__action="claim")
    assert audit.actor == clerk and audit.target_id == str(case.pk)
    task = CaseTask.objects.select_related("claimed_by").get(pk=task.pk)
    with pytest.raises(CaseError) as err:
        services.task_act(actor=colleague, task=task, action=Action.ACCEPT)
    assert err.value.message == f"该环节已由 {clerk} 认领。" and err.value.code == "forbidden"
    refused = AuditEvent.objects.get(event_type=AuditEventType.PERMISSION_DENIED)
    assert refused.actor == colleague and refused.extra_data["reason"] == "claimed_by_other"
    with pytest.raises(CaseError) as err:
        services.task_claim(actor=colleague, task=task)
    assert err.value.message == "该环节已被认领或已办理。"
    with pytest.raises(CaseError) as err:
        services.task_release(actor=colleague, task=task)
    assert err.value.message == "该环节不是由您认领的。"
    outsider = staff(city, "ljs-wjw", ROLE.INTAKE_CLERK)
    with pytest.raises(CaseError) as err:
        services.task_claim(actor=outsider, task=task)
    assert err.value.message == "您没有该环节的办理权限。"
    assert AuditEvent.objects.filter(
        event_type=AuditEventType.PERMISSION_DENIED, actor=outsider, extra_data__action="task_claim"
    ).exists()

    # A claim taken between the officer's page and the action refuses the action (checked in the update).
    stale = CaseTask.objects.get(pk=task.pk)
    services.task_release(actor=clerk, task=stale)
    assert AuditEvent.objects.filter(extra_data__action="release", actor=clerk).exists()
    before = CaseTask.objects.get(pk=task.pk)
    services.task_claim(actor=clerk, task=before)
    with pytest.raises(CaseConflict):
        services.task_act(actor=colleague, task=stale, action=Action.ACCEPT)
    assert services.task_act(actor=clerk, task=before, action=Action.ACCEPT).status == CaseStatus.IN_PROGRESS


def test_comments_are_a_service_with_an_audit_record(city):
    case = services.case_submit(
        applicant=city["citizen"], item=city["food"], answers=food_answers(), uploads=layout()
    )
    firefighter = staff(city, "ljs-xfzd", ROLE.REVIEWER)
    event = services.case_comment_add(actor=firefighter, case=case, text="  后厨需要看现场  ")
    assert event.message == "后厨需要看现场" and not event.public and event.department == city["fire"]
    audit = AuditEvent.objects.get(event_type=AuditEventType.CASE_ACTION, extra_data__action="comment")
    assert audit.actor == firefighter and audit.department_id == city["fire"].pk
    outsider = staff(city, "ljs-wjw", ROLE.REVIEWER)
    with pytest.raises(CaseError) as err:
        services.case_comment_add(actor=outsider, case=case, text="越权留言")
    assert err.value.message == "您没有该办件的查看权限。" and err.value.code == "forbidden"
    assert AuditEvent.objects.filter(
        event_type=AuditEventType.PERMISSION_DENIED, actor=outsider, extra_data__action="case_comment_add"
    ).exists()
    with pytest.raises(CaseError):
        services.case_comment_add(actor=city["citizen"], case=case, text="申请人不能写内部留言")
    assert not case.events.filter(message__in=["越权留言", "申请人不能写内部留言"]).exists()


def test_a_submission_costs_no_more_queries(city, django_assert_max_num_queries):
    """The hot path (bench cases): a warm submission with an upload and a licence-type material, pinned at
    the count it had before services became a package with one check of the application."""
    submit = {"applicant": city["citizen"], "item": city["food"], "answers": food_answers()}
    services.case_submit(**submit, uploads=layout())  # the published version and departments are kept
    with django_assert_max_num_queries(11 if connection.vendor == "sqlite" else 10):
        case = services.case_submit(**submit, uploads=layout())
    assert case.status == CaseStatus.SUBMITTED
