"""The plugin registry: plugins by id with schema-checked options, chosen in settings; the system check; the
operators' health page."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client

import tongban
from tongban.core import registry
from tongban.core.registry import Plugin, Registry

GREETING_OPTIONS = {
    "type": "object",
    "properties": {"word": {"type": "string", "minLength": 1}, "pin": {"type": "string", "writeOnly": True}},
    "required": ["word"],
    "additionalProperties": False,
}


class Greeter(Plugin):
    label = "问候"

    def __init__(self, *, word: str, pin: str = "") -> None:
        self.word = word

    def check_config(self) -> list[str]:
        return [] if self.word != "坏" else ["问候语不对"]


def greeters(many: bool = False) -> Registry[Greeter]:
    kind = Registry("greeter", many=many, listed=False)
    kind.register("plain", Greeter, options_schema=GREETING_OPTIONS)
    return kind


def test_a_plugin_is_built_by_id_with_its_options_checked_against_its_schema():
    kind = greeters()
    assert kind.get("plain", {"word": "你好"}).word == "你好"
    with pytest.raises(ImproperlyConfigured, match=r"plain: option word: '' should be non-empty"):
        kind.get("plain", {"word": ""})
    with pytest.raises(ImproperlyConfigured, match=r"Additional properties are not allowed \('loud'"):
        kind.get("plain", {"word": "好", "loud": True})
    with pytest.raises(ImproperlyConfigured, match=r"'word' is a required property"):
        kind.get("plain")
    with pytest.raises(ImproperlyConfigured, match=r"unknown greeter plugin 'fancy' \(registered: plain\)"):
        kind.get("fancy", {"word": "好"})
    with pytest.raises(ImproperlyConfigured, match="registered twice"):
        kind.register("plain", Greeter)
    with pytest.raises(ImproperlyConfigured, match="bad options schema"):
        kind.register("broken", Greeter, options_schema={"type": "no-such-type"})


def test_a_plugin_without_a_schema_takes_no_options():
    kind = Registry("bare", listed=False)

    @kind.register("only")
    class Bare(Plugin):
        pass

    assert isinstance(kind.get("only"), Bare)
    with pytest.raises(ImproperlyConfigured, match="Additional properties"):
        kind.get("only", {"x": 1})


def test_the_settings_choose_the_plugin_built_once_per_configuration(settings):
    kind = greeters()
    settings.TONGBAN_PLUGINS = {"greeter": {"id": "plain", "options": {"word": "早"}}}
    first = kind.configured()
    assert first.word == "早" and kind.configured() is first  # built once: it may hold connections or keys
    settings.TONGBAN_PLUGINS = {"greeter": {"id": "plain", "options": {"word": "晚"}}}
    assert kind.configured().word == "晚"
    settings.TONGBAN_PLUGINS = {}
    with pytest.raises(ImproperlyConfigured, match="TONGBAN_PLUGINS has no 'greeter' entry"):
        kind.configured()
    settings.TONGBAN_PLUGINS = {"greeter": "plain"}
    with pytest.raises(ImproperlyConfigured, match=r"must be \{\"id\""):
        kind.configured()


def test_a_kind_with_many_plugins_builds_them_in_the_settings_order(settings):
    kind = greeters(many=True)
    settings.TONGBAN_PLUGINS = {
        "greeter": [{"id": "plain", "options": {"word": "甲"}}, {"id": "plain", "options": {"word": "乙"}}]
    }
    assert [g.word for g in kind.configured()] == ["甲", "乙"]


def test_a_test_plugin_is_registered_for_a_block_only(settings):
    kind = greeters()

    class Loud(Greeter):
        pass

    settings.TONGBAN_PLUGINS = {"greeter": {"id": "loud", "options": {"word": "喂"}}}
    with kind.registered("loud", Loud, options_schema=GREETING_OPTIONS):
        assert isinstance(kind.configured(), Loud)
    assert kind.ids() == ["plain"]
    with pytest.raises(ImproperlyConfigured, match="unknown greeter plugin 'loud'"):
        kind.configured()


def test_health_shows_problems_and_hides_write_only_options(settings):
    kind = greeters(many=True)
    settings.TONGBAN_PLUGINS = {
        "greeter": [
            {"id": "plain", "options": {"word": "好", "pin": "1234"}},
            {"id": "plain", "options": {"word": "坏"}},
            {"id": "fancy"},
        ]
    }
    good, bad, unknown = kind.health()
    assert (good.id, good.label, good.options, good.problems) == (
        "plain",
        "问候",
        {"word": "好", "pin": "******"},
        [],
    )
    assert bad.problems == ["问候语不对"]
    assert unknown.id == "fancy" and "unknown greeter plugin 'fancy'" in unknown.problems[0]


def test_every_kind_the_platform_has_is_listed():
    assert {k.kind for k in registry.kinds()} >= {"sms", "notify_channels", "virus_scanner", "key_store"}


def test_the_system_check_refuses_an_unknown_plugin_or_bad_options(settings):
    call_command("check")
    settings.TONGBAN_PLUGINS = {**settings.TONGBAN_PLUGINS, "sms": {"id": "carrier-pigeon"}}
    with pytest.raises(SystemCheckError, match="unknown sms plugin 'carrier-pigeon'"):
        call_command("check")
    settings.TONGBAN_PLUGINS = {
        **settings.TONGBAN_PLUGINS,
        "sms": {"id": "outbox"},
        "virus_scanner": {"id": "clamd", "options": {"address": "no port"}},
    }
    with pytest.raises(SystemCheckError, match="clamd: option address: 'no port' does not match"):
        call_command("check")


def _settings_plugins(**env: str) -> dict:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TONGBAN_", "DJANGO_"))}
    base["PYTHONPATH"] = str(Path(tongban.__file__).parent.parent)  # this checkout's code
    code = "import json, tongban.settings.base as s; print(json.dumps(s.TONGBAN_PLUGINS))"
    result = subprocess.run(
        [sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def test_the_plugins_are_chosen_by_environment_variables():
    assert _settings_plugins() == {
        "sms": {"id": "outbox"},
        "notify_channels": [{"id": "sms"}],
        "virus_scanner": {"id": "eicar", "options": {}},
        "key_store": {"id": "encrypted-db", "options": {"kek": ""}},
    }
    chosen = _settings_plugins(
        TONGBAN_SMS_BACKEND="gateway",
        TONGBAN_NOTIFY_CHANNELS="sms, email",
        TONGBAN_VIRUS_SCANNER="clamd",
        TONGBAN_CLAMD="clamav.internal:3310",
        TONGBAN_CLAMD_TIMEOUT="5",
        TONGBAN_SEAL_KEK="AAAAAAAAAAAAAAAAAAAAAA==",
    )
    assert chosen == {
        "sms": {"id": "gateway"},
        "notify_channels": [{"id": "sms"}, {"id": "email"}],
        "virus_scanner": {"id": "clamd", "options": {"address": "clamav.internal:3310", "timeout": 5.0}},
        "key_store": {"id": "encrypted-db", "options": {"kek": "AAAAAAAAAAAAAAAAAAAAAA=="}},
    }
    assert _settings_plugins(TONGBAN_KEY_STORE="hsm")["key_store"] == {"id": "hsm", "options": {}}


def _operator(**fields) -> Client:
    from tongban.identity.tests.factories import StaffFactory
    from tongban.testing import login_staff

    user = StaffFactory(totp=True, **fields)
    client = Client()
    assert login_staff(client, user).status_code == 302
    return client


@pytest.mark.django_db
def test_the_health_page_lists_each_configured_plugin_and_its_check(settings):
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]  # closed again: no clamd listens there
    settings.TONGBAN_PLUGINS = {
        **settings.TONGBAN_PLUGINS,
        "virus_scanner": {"id": "clamd", "options": {"address": f"127.0.0.1:{port}", "timeout": 0.5}},
        "key_store": {"id": "encrypted-db", "options": {"kek": "c2VjcmV0LWtlay0xNi1ieQ=="}},
    }
    response = _operator(is_staff=True).get("/admin/plugins/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "插件状态" in page and page.count('class="plugin-ok"') == 3  # sms, one channel, key store
    assert "文件发件箱（不真正发送，演示和测试用）" in page and "短信（经短信网关）" in page
    assert f"无法连接 clamd 127.0.0.1:{port}" in page and page.count('class="plugin-problem"') == 1
    assert "c2VjcmV0LWtlay0xNi1ieQ==" not in page and "******" in page


@pytest.mark.django_db
def test_the_health_page_is_for_the_operators_only():
    assert Client().get("/admin/plugins/")["Location"].startswith("/admin/login/")
    officer = _operator()  # staff of a department, not an operator of the admin
    response = officer.get("/admin/plugins/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
