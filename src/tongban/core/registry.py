"""The plugin registry: one way for outside systems to plug in (DESIGN.md, docs/plugins.md).

A kind of plugin (the SMS gateway, the virus scanner, the seal key store, the notification channels, and
the payment provider, courier or ID-card reader to come) is one ``Registry`` made where its contract
lives. Each plugin registers under an id with the JSON schema of its options; the deployment chooses the
plugin and its options in ``settings.TONGBAN_PLUGINS[kind]`` (``{"id": ..., "options": {...}}``, or a list
of them for a kind with ``many=True``), and callers ask the kind's one service for ``configured()``.
Options are validated against the schema before the plugin is built, and the operators' health page
(/admin/plugins/) shows every configured plugin with what its ``check_config()`` found."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

NO_OPTIONS: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}


class Plugin:
    """What every plugin offers besides its kind's own methods. ``label`` names it for the operators."""

    label: str = ""

    def check_config(self) -> list[str]:
        """What is wrong with this plugin's configuration or its outside system, in words for the operators
        (empty: nothing found). Called by the health page only, so it may take a moment (a ping, a probe)."""
        return []


T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    id: str
    factory: Callable[..., T]
    options_schema: Mapping[str, Any]

    def validate(self, options: Mapping[str, Any]) -> None:
        error = next(iter(Draft202012Validator(self.options_schema).iter_errors(options)), None)
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path)
            raise ImproperlyConfigured(f"{self.id}: option {where or '(options)'}: {error.message}")


@dataclass(frozen=True)
class Health:
    """One configured plugin as the health page shows it."""

    kind: str
    kind_label: str
    id: str
    label: str
    options: dict[str, str]
    problems: list[str] = field(default_factory=list)


_kinds: dict[str, Registry[Any]] = {}


class Registry(Generic[T]):
    """The plugins of one kind, by id. ``many``: the setting lists several (each built once). ``listed``:
    on the health page and in the system check (False for a registry a test builds for itself)."""

    def __init__(self, kind: str, *, label: str = "", many: bool = False, listed: bool = True) -> None:
        if listed and kind in _kinds:
            raise ImproperlyConfigured(f"plugin kind {kind!r} is registered twice")
        self.kind, self.label, self.many = kind, label or kind, many
        self._entries: dict[str, Entry[T]] = {}
        self._built: dict[str, T] = {}
        if listed:
            _kinds[kind] = self

    def register(
        self,
        id: str,
        factory: Callable[..., T] | None = None,
        *,
        options_schema: Mapping[str, Any] | None = None,
    ) -> Any:
        """Register ``factory`` (called with the validated options as keyword arguments) under ``id``;
        without ``factory``, a class decorator. A plugin without options needs no schema."""
        schema = NO_OPTIONS if options_schema is None else options_schema
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise ImproperlyConfigured(
                f"{self.kind} plugin {id!r}: bad options schema: {exc.message}"
            ) from exc

        def add(func: Callable[..., T]) -> Callable[..., T]:
            if id in self._entries:
                raise ImproperlyConfigured(f"{self.kind} plugin {id!r} is registered twice")
            self._entries[id] = Entry(id, func, schema)
            self._built.clear()
            return func

        return add if factory is None else add(factory)

    def ids(self) -> list[str]:
        return sorted(self._entries)

    def entry(self, id: str) -> Entry[T]:
        try:
            return self._entries[id]
        except KeyError:
            known = ", ".join(self.ids()) or "none"
            raise ImproperlyConfigured(f"unknown {self.kind} plugin {id!r} (registered: {known})") from None

    def get(self, id: str, options: Mapping[str, Any] | None = None) -> T:
        """The plugin ``id`` built with ``options`` (validated against its schema)."""
        entry = self.entry(id)
        options = dict(options or {})
        entry.validate(options)
        return entry.factory(**options)

    def settings_value(self) -> Any:
        value = getattr(settings, "TONGBAN_PLUGINS", {}).get(self.kind)
        if value is None:
            raise ImproperlyConfigured(f"TONGBAN_PLUGINS has no {self.kind!r} entry")
        return value

    def _configs(self) -> list[Mapping[str, Any]]:
        value = self.settings_value()
        configs = value if self.many else [value]
        if not isinstance(configs, list) or not all(isinstance(c, Mapping) and "id" in c for c in configs):
            shape = '[{"id": ...}, …]' if self.many else '{"id": ..., "options": {...}}'
            raise ImproperlyConfigured(f"TONGBAN_PLUGINS[{self.kind!r}] must be {shape}")
        return configs

    def _build(self, config: Mapping[str, Any]) -> T:
        # Built once per configuration: a plugin may hold connections or loaded keys, and a changed setting
        # (override_settings in a test) gets its own instance.
        key = json.dumps(config, sort_keys=True, default=str)
        plugin = self._built.get(key)
        if plugin is None:
            try:
                plugin = self.get(config["id"], config.get("options"))
            except ImproperlyConfigured as exc:
                raise ImproperlyConfigured(f"TONGBAN_PLUGINS[{self.kind!r}]: {exc}") from None
            self._built[key] = plugin
        return plugin

    def configured(self) -> Any:
        """The plugin the settings choose (``many``: the list of them, in the settings' order)."""
        plugins = [self._build(c) for c in self._configs()]
        return plugins if self.many else plugins[0]

    def problems(self) -> list[str]:
        """What is wrong with the setting itself (unknown id, options against the schema): a system check."""
        try:
            for config in self._configs():
                entry = self.entry(config["id"])
                entry.validate(dict(config.get("options") or {}))
        except ImproperlyConfigured as exc:
            return [str(exc)]
        return []

    def health(self) -> list[Health]:
        try:
            configs = self._configs()
        except ImproperlyConfigured as exc:
            return [Health(self.kind, self.label, "", "", {}, [str(exc)])]
        rows = []
        for config in configs:
            id_ = str(config["id"])
            options = dict(config.get("options") or {})
            try:
                plugin = self._build(config)
            except ImproperlyConfigured as exc:
                rows.append(Health(self.kind, self.label, id_, "", {}, [str(exc)]))
                continue
            try:
                problems = list(getattr(plugin, "check_config", lambda: [])())
            except Exception as exc:  # a broken check is a problem to show, not a broken page
                problems = [f"check_config: {type(exc).__name__}: {exc}"]
            shown = _shown_options(options, self._entries[id_].options_schema)
            rows.append(
                Health(self.kind, self.label, id_, str(getattr(plugin, "label", "")), shown, problems)
            )
        return rows

    @contextlib.contextmanager
    def registered(
        self,
        id: str,
        factory: Callable[..., T],
        *,
        options_schema: Mapping[str, Any] | None = None,
    ) -> Iterator[None]:
        """Register a plugin for the duration of a block: tests inject their fakes this way."""
        self.register(id, factory, options_schema=options_schema)
        try:
            yield
        finally:
            del self._entries[id]
            self._built.clear()


def _shown_options(options: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, str]:
    """Options for the health page: those the schema marks ``writeOnly`` (keys, PINs) are not shown."""
    properties = schema.get("properties", {})
    return {
        name: "******" if value and properties.get(name, {}).get("writeOnly") else str(value)
        for name, value in options.items()
    }


def kinds() -> list[Registry[Any]]:
    """Every kind of plugin, in the order the apps made them."""
    return list(_kinds.values())


def health() -> list[Health]:
    """Every configured plugin and what its ``check_config()`` found, for the health page."""
    return [row for registry in kinds() for row in registry.health()]
