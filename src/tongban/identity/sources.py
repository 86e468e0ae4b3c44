"""What identity checks a claim against: the population and legal-entity registries.

The registries sit above identity in the dependency order, so identity cannot import them. This is the
documented hook point: ``registries`` registers a ``RegistrySource`` when it loads
(``RegistriesConfig.ready``). Without one nothing can be checked, and so nothing is granted on the
registries' word: accounts stay self-declared and organisations cannot be claimed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class RegisteredPerson:
    """A resident as the population registry (人口库) holds them."""

    id_number: str
    name: str
    phone: str
    living: bool


@dataclass(frozen=True)
class RegisteredEntity:
    """A legal entity as the legal-entity registry (法人库) holds it."""

    uscc: str
    name: str
    legal_rep_id_number: str
    active: bool
    status_label: str
    address: str = ""
    area_code: str = ""
    established_on: dt.date | None = None


class RegistrySource(Protocol):
    def person(self, id_number: str) -> RegisteredPerson | None: ...

    def legal_entity(self, uscc: str) -> RegisteredEntity | None: ...


_source: RegistrySource | None = None


def register_source(source: RegistrySource | None) -> None:
    """Called once by the registries app; None unplugs it."""
    global _source
    _source = source


def has_source() -> bool:
    return _source is not None


def registered_person(id_number: str) -> RegisteredPerson | None:
    return _source.person(id_number) if _source is not None else None


def registered_entity(uscc: str) -> RegisteredEntity | None:
    return _source.legal_entity(uscc) if _source is not None else None
