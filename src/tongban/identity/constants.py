from django.db import models
from django.utils.translation import gettext_lazy as _


class AreaLevel(models.TextChoices):
    PROVINCE = "province", _("省级")
    CITY = "city", _("市级")
    COUNTY = "county", _("县（区）级")
    TOWNSHIP = "township", _("乡镇（街道）级")


class AccountType(models.TextChoices):
    PUBLIC = "public", _("个人与法人用户")
    STAFF = "staff", _("工作人员")


class RealNameLevel(models.IntegerChoices):
    SELF_DECLARED = 1, _("自行填报")
    REGISTRY_VERIFIED = 2, _("经人口库核验")
    IN_PERSON = 3, _("线下当面核验")


class OrganisationType(models.TextChoices):
    ENTERPRISE = "enterprise", _("企业")
    INDIVIDUAL_BUSINESS = "individual_business", _("个体工商户")
    COOPERATIVE = "cooperative", _("农民专业合作社")
    INSTITUTION = "institution", _("事业单位")
    SOCIAL_ORGANISATION = "social_organisation", _("社会组织")
    GOVERNMENT = "government", _("机关")
    OTHER = "other", _("其他组织")


class OrganisationVerification(models.TextChoices):
    SELF_DECLARED = "self_declared", _("自行填报")
    REGISTRY_VERIFIED = "registry_verified", _("经法人库核验")


class StaffRoleName(models.TextChoices):
    INTAKE_CLERK = "intake_clerk", _("受理人员")
    REVIEWER = "reviewer", _("审查人员")
    APPROVER = "approver", _("决定人员")
    DEPARTMENT_ADMIN = "department_admin", _("部门管理员")
    DATA_OFFICER = "data_officer", _("数据专员")
    PLATFORM_ADMIN = "platform_admin", _("平台管理员")
