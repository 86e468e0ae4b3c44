from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .constants import OrganisationType


class LoginForm(forms.Form):
    username = forms.CharField(
        label=_("公民身份号码或手机号码"),
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        label=_("密码"),
        max_length=128,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class StaffLoginForm(forms.Form):
    username = forms.CharField(
        label=_("工作人员登录名"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        label=_("密码"),
        max_length=128,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    token = forms.CharField(
        label=_("动态口令（6位数字）"),
        max_length=6,
        required=False,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9]*"}
        ),
        help_text=_("首次登录尚未绑定验证器的，可留空，登录后按提示绑定。"),
    )


class TokenForm(forms.Form):
    token = forms.CharField(
        label=_("验证器显示的6位数字"),
        max_length=6,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


class RegisterForm(forms.Form):
    """Step 1 of registration: who, and the phone the SMS code goes to."""

    name = forms.CharField(
        label=_("姓名"), max_length=60, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    id_number = forms.CharField(label=_("公民身份号码"), max_length=18, min_length=18)
    phone = forms.CharField(
        label=_("手机号码"),
        max_length=11,
        help_text=_("我们将向该手机发送短信验证码。"),
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )


class RegisterVerifyForm(forms.Form):
    """Step 2: the SMS code and the password."""

    code = forms.CharField(
        label=_("短信验证码"),
        max_length=6,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )
    password = forms.CharField(
        label=_("设置密码"),
        strip=False,
        max_length=128,
        help_text=_("至少10位，不要只用数字，不要与姓名或证件号相近。"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label=_("再次输入密码"),
        strip=False,
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict:
        data = super().clean()
        if data.get("password") and data.get("password2") and data["password"] != data["password2"]:
            self.add_error("password2", _("两次输入的密码不一致。"))
        return data


class PasswordResetRequestForm(forms.Form):
    identifier = forms.CharField(label=_("公民身份号码或手机号码"), max_length=40)


class OrganisationForm(forms.Form):
    """Only the credit code and the type: name, address and representative come from the registry."""

    uscc = forms.CharField(label=_("统一社会信用代码"), max_length=18, min_length=18)
    org_type = forms.ChoiceField(label=_("组织类型"), choices=OrganisationType.choices)


class AgentForm(forms.Form):
    name = forms.CharField(label=_("经办人姓名"), max_length=60)
    id_number = forms.CharField(label=_("经办人公民身份号码"), max_length=18, min_length=18)
    valid_until = forms.DateField(
        label=_("授权有效期至"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


class RoleGrantForm(forms.Form):
    username = forms.CharField(label=_("工作人员登录名"), max_length=150)
    role = forms.ChoiceField(label=_("角色"))

    def __init__(self, *args: object, roles: list[tuple[str, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = roles
