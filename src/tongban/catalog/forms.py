from __future__ import annotations

import json
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from .constants import ApplicantType, Audience, Channel, ItemType, OnlineDepth
from .models import Theme
from .services import VERSION_FIELDS, ItemContent, LifeEventEntry
from .validation import CatalogError


class PrettyJSONField(forms.JSONField):
    """A JSON textarea that shows its value indented and Chinese unescaped."""

    widget = forms.Textarea(attrs={"rows": 10, "class": "code", "spellcheck": "false"})

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        return json.dumps(value, ensure_ascii=False, indent=2)


class ItemForm(forms.Form):
    department = forms.ChoiceField(label=_("实施部门"))
    basic_code = forms.CharField(
        label=_("基本编码"),
        max_length=12,
        min_length=12,
        help_text=_("12位：事项类型2位 + 主项5位 + 子项3位 + 业务办理项2位"),
    )
    name = forms.CharField(label=_("事项名称"), max_length=200)
    item_type = forms.ChoiceField(label=_("事项类型"), choices=ItemType.choices)
    applicant_types = forms.MultipleChoiceField(
        label=_("服务对象"), choices=ApplicantType.choices, widget=forms.CheckboxSelectMultiple
    )
    summary = forms.CharField(label=_("简介"), widget=forms.Textarea(attrs={"rows": 2}), required=False)
    legal_basis = forms.CharField(label=_("设定依据"), widget=forms.Textarea(attrs={"rows": 2}))
    conditions = forms.CharField(
        label=_("受理条件"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )
    statutory_days = forms.IntegerField(label=_("法定办结时限（工作日）"), min_value=1, max_value=999)
    committed_days = forms.IntegerField(label=_("承诺办结时限（工作日）"), min_value=1, max_value=999)
    fee_free = forms.BooleanField(label=_("不收费"), required=False)
    fee_description = forms.CharField(label=_("收费标准及依据"), required=False)
    channels = forms.MultipleChoiceField(
        label=_("办理渠道"), choices=Channel.choices, widget=forms.CheckboxSelectMultiple
    )
    online_depth = forms.ChoiceField(label=_("网办深度"), choices=OnlineDepth.choices)
    max_visits = forms.IntegerField(label=_("到现场次数"), min_value=0, max_value=9)
    result_name = forms.CharField(label=_("办理结果"), required=False, max_length=100)
    result_licence_type = forms.CharField(label=_("结果证照类型代码"), required=False, max_length=21)
    keywords = forms.CharField(
        label=_("检索关键词"),
        required=False,
        max_length=300,
        help_text=_("以空格分隔，包括群众的口语说法，如“开饭店”。"),
    )
    contact = forms.CharField(label=_("咨询方式"), required=False, max_length=200)
    themes = forms.MultipleChoiceField(label=_("主题"), required=False, widget=forms.CheckboxSelectMultiple)
    form_schema = PrettyJSONField(label=_("申请表（JSON Schema）"))
    workflow = PrettyJSONField(label=_("办理流程"))
    materials = PrettyJSONField(label=_("申请材料"), required=False)
    decision_rules = PrettyJSONField(
        label=_("秒批规则"),
        required=False,
        help_text=_(
            "列表，每条有说明 label 和条件 condition，可引用表单字段和 verified.real_name_level、verified.age；全部满足时自动准予。"
        ),
    )

    content_fields = VERSION_FIELDS

    def __init__(
        self, *args: Any, departments: list[tuple[str, str]], editing: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["department"].choices = departments
        self.fields["themes"].choices = [(t.code, t.name) for t in Theme.objects.all()]
        if editing:  # the department and code identify the item; a new version cannot change them
            del self.fields["department"]
            del self.fields["basic_code"]

    def content(self) -> ItemContent:
        data = self.cleaned_data
        materials = data.get("materials") or []
        if not isinstance(materials, list):
            self.add_error("materials", _("申请材料应为 JSON 列表。"))
            materials = []
        values = {k: data[k] for k in self.content_fields}
        values["decision_rules"] = values.get("decision_rules") or []
        return ItemContent(
            fields=values,
            materials=materials,
            themes=list(data.get("themes") or []),
        )

    def add_catalog_error(self, error: CatalogError) -> None:
        for problem in error.problems:
            field = problem.field.split(".", 1)[0].split(",", 1)[0]
            self.add_error(field if field in self.fields else None, str(problem))


class LifeEventForm(forms.Form):
    code = forms.SlugField(label=_("编码"), max_length=60)
    name = forms.CharField(label=_("名称"), max_length=100)
    audience = forms.ChoiceField(label=_("面向"), choices=Audience.choices)
    summary = forms.CharField(label=_("简介"), widget=forms.Textarea(attrs={"rows": 2}), required=False)
    keywords = forms.CharField(label=_("检索关键词"), required=False, max_length=300)
    themes = forms.MultipleChoiceField(label=_("主题"), required=False, widget=forms.CheckboxSelectMultiple)
    questions = PrettyJSONField(
        label=_("情形选择"), required=False, help_text=_("JSON Schema；纳入条件引用这里的问题。")
    )
    entries = PrettyJSONField(
        label=_("包含的事项"),
        help_text=_(
            '列表，每项如 {"item": "ljs-wjw/070000100000", "condition": …, '
            '"condition_label": "…", "field_map": {}}'
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["themes"].choices = [(t.code, t.name) for t in Theme.objects.all()]

    def entry_list(self, departments: dict[str, str]) -> list[LifeEventEntry]:
        """``departments``: department code -> credit code, to turn "dept/basic" into implementation codes."""
        entries = self.cleaned_data["entries"]
        if not isinstance(entries, list) or not all(isinstance(e, dict) and "item" in e for e in entries):
            self.add_error("entries", _("应为列表，每项都有 item。"))
            return []
        result = []
        for e in entries:
            dept, _sep, basic = str(e["item"]).partition("/")
            result.append(
                LifeEventEntry(
                    implementation_code=f"{departments.get(dept, dept)}{basic}",
                    condition=e.get("condition"),
                    condition_label=e.get("condition_label") or "",
                    field_map=e.get("field_map") or {},
                )
            )
        return result

    def add_catalog_error(self, error: CatalogError) -> None:
        for problem in error.problems:
            field = problem.field.split(".", 1)[0]
            self.add_error(field if field in self.fields else "entries", str(problem))


class ImportForm(forms.Form):
    file = forms.FileField(label=_("目录文件（.json、.yaml 或 .xlsx）"))

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > 20 * 1024 * 1024:
            raise forms.ValidationError(_("文件不能超过20MB。"))
        if upload.name.rsplit(".", 1)[-1].lower() not in {"json", "yaml", "yml", "xlsx"}:
            raise forms.ValidationError(_("只支持 .json、.yaml 和 .xlsx 文件。"))
        return upload
