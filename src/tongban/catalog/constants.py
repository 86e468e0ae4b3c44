from django.db import models
from django.utils.translation import gettext_lazy as _


class ItemType(models.TextChoices):
    """The value is the 2-digit type code that opens the basic code."""

    LICENSING = "01", _("行政许可")
    PAYMENT = "05", _("行政给付")
    CONFIRMATION = "07", _("行政确认")
    REWARD = "08", _("行政奖励")
    ADJUDICATION = "09", _("行政裁决")
    OTHER_POWER = "10", _("其他行政权力")
    PUBLIC_SERVICE = "20", _("公共服务")


class ApplicantType(models.TextChoices):
    PERSON = "person", _("自然人")
    ORGANISATION = "organisation", _("法人及其他组织")


class Audience(models.TextChoices):
    PERSON = "person", _("个人办事")
    ORGANISATION = "organisation", _("法人办事")


class ThemeKind(models.TextChoices):
    THEME = "theme", _("主题")
    LIFE_STAGE = "life_stage", _("人生阶段")


class OnlineDepth(models.TextChoices):
    INFO = "info", _("一级：在线咨询")
    DOWNLOAD = "download", _("二级：表格下载")
    PRECHECK = "precheck", _("三级：网上预审")
    FULL_ONLINE = "full_online", _("四级：全程网办")


class Channel(models.TextChoices):
    ONLINE = "online", _("网上办理")
    MOBILE = "mobile", _("掌上办理")
    WINDOW = "window", _("窗口办理")
    TERMINAL = "terminal", _("自助终端")


class VersionStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    REVIEW = "review", _("待审核")
    PUBLISHED = "published", _("已发布")
    SUPERSEDED = "superseded", _("已被新版本替代")
    WITHDRAWN = "withdrawn", _("已撤销")


class MaterialForm(models.TextChoices):
    ORIGINAL = "original", _("原件")
    COPY = "copy", _("复印件")
    ELECTRONIC = "electronic", _("电子材料")


class StepKind(models.TextChoices):
    ACCEPT = "accept", _("受理")
    REVIEW = "review", _("审查")
    DECIDE = "decide", _("决定")
    CLOSE = "close", _("办结")


# What a form field can be prefilled from (issue-by-issue more sources join).
PREFILL_SOURCES = frozenset(
    {
        "person.name",
        "person.id_number",
        "person.phone",
        "person.birth_date",
        "person.sex",
        "organisation.name",
        "organisation.uscc",
        "organisation.address",
        "organisation.legal_representative",
    }
)
ACCEPTED_FORMATS = frozenset({"pdf", "jpg", "jpeg", "png", "ofd", "docx", "xlsx"})
# The largest upload a material may allow; the request body cap (TONGBAN_MAX_UPLOAD_MB, default 52) sits a
# little above it.
MAX_MATERIAL_MB = 50

# Layout hints a form field may carry (the portal's form renderer reads them).
WIDGETS = frozenset(
    {"text", "textarea", "select", "radio", "checkbox", "date", "number", "phone", "id-number", "address"}
)
