from django.db import models
from django.utils.translation import gettext_lazy as _


class CaseStatus(models.TextChoices):
    SUBMITTED = "submitted", _("待受理")
    CORRECTION = "correction", _("待补正")
    IN_PROGRESS = "in_progress", _("办理中")
    DECIDED = "decided", _("已决定")
    CLOSED = "closed", _("已办结")
    REFUSED = "refused", _("不予受理")
    WITHDRAWN = "withdrawn", _("已撤回")


OPEN_STATUSES = (CaseStatus.SUBMITTED, CaseStatus.CORRECTION, CaseStatus.IN_PROGRESS, CaseStatus.DECIDED)
# The applicant may withdraw until a decision is made.
WITHDRAWABLE_STATUSES = (CaseStatus.SUBMITTED, CaseStatus.CORRECTION, CaseStatus.IN_PROGRESS)
FINAL_STATUSES = (CaseStatus.CLOSED, CaseStatus.REFUSED, CaseStatus.WITHDRAWN)


class Outcome(models.TextChoices):
    NONE = "", _("未决定")
    APPROVED = "approved", _("准予")
    REJECTED = "rejected", _("不予")


class TaskStatus(models.TextChoices):
    WAITING = "waiting", _("等待前序步骤")
    OPEN = "open", _("待办")
    PAUSED = "paused", _("等待申请人补正")
    DONE = "done", _("已完成")
    CANCELLED = "cancelled", _("已取消")


class Action(models.TextChoices):
    ACCEPT = "accept", _("受理")
    REFUSE = "refuse", _("不予受理")
    CORRECTION = "correction", _("一次性告知补正")
    PASS = "pass", _("审查通过")
    OBJECT = "object", _("审查不通过")
    APPROVE = "approve", _("准予")
    REJECT = "reject", _("不予")
    CLOSE = "close", _("办结")


# Which actions each step kind offers, and which need a written reason.
STEP_ACTIONS = {
    "accept": (Action.ACCEPT, Action.REFUSE, Action.CORRECTION),
    "review": (Action.PASS, Action.OBJECT, Action.CORRECTION),
    "decide": (Action.APPROVE, Action.REJECT),
    "close": (Action.CLOSE,),
}
REASON_REQUIRED = frozenset({Action.REFUSE, Action.CORRECTION, Action.OBJECT, Action.REJECT})
# The action a queue offers for many tasks at once: only the ones that need no written reason.
BATCH_ACTIONS = {
    "accept": Action.ACCEPT,
    "review": Action.PASS,
    "decide": Action.APPROVE,
    "close": Action.CLOSE,
}
BATCH_LIMIT = 100


class EventKind(models.TextChoices):
    SUBMITTED = "submitted", _("提交申请")
    ACCEPTED = "accepted", _("已受理")
    REFUSED = "refused", _("不予受理")
    CORRECTION_REQUESTED = "correction_requested", _("一次性告知补正")
    CORRECTED = "corrected", _("已补正")
    TASK_OPENED = "task_opened", _("进入办理环节")
    TASK_DONE = "task_done", _("环节完成")
    DECIDED = "decided", _("作出决定")
    CLOSED = "closed", _("办结")
    WITHDRAWN = "withdrawn", _("申请人撤回")
    COMMENT = "comment", _("部门间意见")
    INSTANT = "instant", _("秒批")
    LICENCE = "licence", _("签发电子证照")
