"""No test module imports another test module: shared helpers live in ``tongban.testing``, an app's
``tests/factories.py`` or its ``tests/conftest.py``. (Importing a test module runs its module-level code
and, worse, its tests and fixtures show up twice or depend on another file's layout.)"""

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3]  # .../src
TEST_MODULE = re.compile(r"^tongban\.[a-z_]+\.tests\.test_[a-z0-9_]+$")
# A dotted path to something inside a test module, as TONGBAN_SMS_BACKEND and import_string take it.
DOTTED = re.compile(r"^(tongban\.[a-z_]+\.tests\.test_[a-z0-9_]+)(\.[A-Za-z_]\w*)*$")


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(SRC).with_suffix("").parts)


def imports_of_test_modules(source: str, name: str) -> list[str]:
    """The test modules ``source`` (the module ``name``) imports, anywhere in it (functions included),
    relative imports resolved; and test-module paths it names in strings."""
    package = name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if TEST_MODULE.match(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if TEST_MODULE.match(target):
                found.append(target)
            else:  # from tongban.x.tests import test_y
                found += [f"{target}.{a.name}" for a in node.names if TEST_MODULE.match(f"{target}.{a.name}")]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            dotted = DOTTED.match(node.value)
            if dotted and dotted.group(1) != name:
                found.append(dotted.group(1))
    return found


def all_test_modules():
    return sorted(SRC.glob("tongban/*/tests/test_*.py"))


def test_the_walk_sees_every_app_s_tests():
    apps = {path.parts[-3] for path in all_test_modules()}
    assert {"cases", "catalog", "core", "exchange", "identity", "licences", "registries"} <= apps


@pytest.mark.parametrize("path", all_test_modules(), ids=lambda p: module_name(p))
def test_no_test_module_imports_another(path):
    name = module_name(path)
    assert imports_of_test_modules(path.read_text(), name) == [], (
        f"{name} imports another test module: move the helper to tongban.testing, the app's "
        "tests/factories.py or tests/conftest.py"
    )


# The module the samples below sit in (spelt in two parts, or this file would name a test module itself).
SOME_TEST = "tongban.cases.tests." + "test_input"


@pytest.mark.parametrize(
    "source",
    [
        "from tongban.cases.tests.test_api import token",
        "import tongban.cases.tests.test_api",
        "from tongban.exchange.tests import test_gateway",
        "from .test_views import citizen_client",
        "from . import test_views",
        "from ..tests.test_views import pdf",
        "def f():\n    from tongban.identity.tests.test_views import login_staff\n",
        "monkeypatch.setenv('X', 'tongban.core.tests.test_outbox.DownGateway')",
    ],
)
def test_the_check_catches_every_spelling(source):
    assert imports_of_test_modules(source, SOME_TEST)


@pytest.mark.parametrize(
    "source",
    [
        "from tongban.testing import token",
        "from .conftest import act",
        "from .factories import CaseFactory",
        "from tongban.identity.tests.factories import PASSWORD",
        "from tongban.cases.tests import conftest",
    ],
)
def test_helpers_factories_and_conftest_may_be_imported(source):
    assert imports_of_test_modules(source, SOME_TEST) == []
