from django.db import models
from django.utils.translation import gettext_lazy as _


class Algorithm(models.TextChoices):
    SM2 = "SM2-SM3", _("SM2 签名（SM3 杂凑）")
    ED25519 = "Ed25519", _("Ed25519")


class HolderCodeType(models.TextChoices):
    ID_NUMBER = "id_number", _("公民身份号码")
    USCC = "uscc", _("统一社会信用代码")


class LicenceStatus(models.TextChoices):
    VALID = "valid", _("有效")
    SUSPENDED = "suspended", _("暂停")
    REVOKED = "revoked", _("注销")
    SUPERSEDED = "superseded", _("已被新版本替代")


class Verdict(models.TextChoices):
    """What a verification says: one word for machines, with a reason in words for people."""

    VALID = "valid", _("有效")
    TAMPERED = "tampered", _("内容被篡改")
    EXPIRED = "expired", _("已过有效期")
    REVOKED = "revoked", _("已注销")
    SUSPENDED = "suspended", _("已暂停")
    SUPERSEDED = "superseded", _("已被新版本替代")
    UNKNOWN_ISSUER = "unknown_issuer", _("签发机构或印章未知")
    NOT_AUTHORISED = "not_authorised", _("颁发机构无权签发此类证照")
    KEY_REVOKED = "key_revoked", _("印章密钥已吊销")
    KEY_NOT_VALID = "key_not_valid", _("签章时印章密钥不在有效期内")
    BAD_IDENTIFIER = "bad_identifier", _("证照标识无效")
    UNKNOWN_LICENCE = "unknown_licence", _("证照库中没有此证照")
    MALFORMED = "malformed", _("文件格式不正确")


FORMAT = "tongban-licence/1"
