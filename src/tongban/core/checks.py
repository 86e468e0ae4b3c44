"""System checks (``tongban check``): a plugin setting that names an unknown plugin or options its schema
refuses stops the deployment check, rather than the first SMS or upload that needs the plugin."""

from __future__ import annotations

from typing import Any

from django.core import checks

from . import registry


@checks.register()
def plugins_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    return [
        checks.Error(problem, hint="TONGBAN_PLUGINS, docs/plugins.md", id="tongban.E001")
        for kind in registry.kinds()
        for problem in kind.problems()
    ]
