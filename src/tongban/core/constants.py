from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEventType(models.TextChoices):
    LOGIN = "login", _("登录")
    LOGIN_FAILED = "login_failed", _("登录失败")
    LOGOUT = "logout", _("退出登录")
    LOCKED_OUT = "locked_out", _("账号锁定")
    SECOND_FACTOR_FAILED = "second_factor_failed", _("动态口令错误")
    SECOND_FACTOR_ENROLLED = "second_factor_enrolled", _("绑定动态口令")
    REGISTERED = "registered", _("注册账号")
    PASSWORD_CHANGED = "password_changed", _("修改密码")
    PASSWORD_RESET_REQUESTED = "password_reset_requested", _("申请重置密码")
    PASSWORD_RESET = "password_reset", _("重置密码")
    ROLE_GRANTED = "role_granted", _("授予角色")
    ROLE_REVOKED = "role_revoked", _("撤销角色")
    ORG_REGISTERED = "org_registered", _("登记组织")
    AGENT_GRANTED = "agent_granted", _("授权经办人")
    AGENT_REVOKED = "agent_revoked", _("撤销经办人")
    ACTING_SWITCHED = "acting_switched", _("切换办事身份")
    OIDC_CONSENT = "oidc_consent", _("单点登录授权")
    CLIENT_CREATED = "client_created", _("创建系统接入客户端")
    PERMISSION_DENIED = "permission_denied", _("越权访问被拒绝")
    PERSON_VERIFIED = "person_verified", _("核验公民身份")
    CATALOG_CHANGED = "catalog_changed", _("事项目录变更")
    CALENDAR_CHANGED = "calendar_changed", _("工作日历变更")
    CASE_SUBMITTED = "case_submitted", _("提交办件")
    CASE_ACTION = "case_action", _("办件操作")
    DOCUMENT_READ = "document_read", _("查阅申请材料")
    GOVSTACK_CALL = "govstack_call", _("GovStack 接口调用")
    SEAL_KEY_CHANGED = "seal_key_changed", _("印章密钥变更")
    LICENCE_ISSUED = "licence_issued", _("签发电子证照")
    LICENCE_CHANGED = "licence_changed", _("电子证照状态变更")
    LICENCE_SHARED = "licence_shared", _("分享电子证照")
    DATA_SHARING = "data_sharing", _("数据共享")
    REGISTRY_READ = "registry_read", _("查阅基础库")


class AuditOutcome(models.TextChoices):
    SUCCESS = "success", _("成功")
    FAILURE = "failure", _("失败")
