"""Masking: what another department sees of a record, field by field and as a whole.

A field is masked by its grade (``mask``) unless the grant names it as clear. A record is masked as a whole
(``mask_record``): an identifier repeats other fields of the same record. A resident ID number holds the
area code in its first six characters, the birth date in the next eight and the sex in the seventeenth; a
credit code holds the registering authority's area code in characters 3 to 8. Beside a clear area code
and birth date, ``3399**********6322`` is the whole number again. So wherever a recipient sees an
identifier masked, the characters of those fields that stand at the identifier's hidden positions are
masked too (``339902`` → ``3399**``, ``1985-05-05`` → ``****-**-**``), and such fields cannot be filtered by
(a filter tells their value). The rule holds for the recipient department as a whole
(``RegistryView.masked_identifiers``): once it may see the identifier masked through any resource over
the registry, it gets these fields masked from every resource over it, or a name in clear would join two
answers into the whole number. A department that has the identifier in clear learns nothing more from
them, and gets them by their own grade.

The same rule exists twice: here for the gateway, the Digital Registries API and the feed on SQLite, and
as SQL in ``bulk._batch_postgresql``; the feed's tests compare the two."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tongban.registries.models import RegistryKind

from .models import Sensitivity


def mask(value: Any, grade: int) -> Any:
    """Grade 3: keep the first and last quarter; grade 4: nothing but the length is shown."""
    if value in (None, "") or grade < Sensitivity.SENSITIVE:
        return value
    text = str(value)
    if grade >= Sensitivity.SECRET:
        return "*" * min(len(text), 8)
    keep = len(text) // 4
    if keep == 0:
        return "*" * len(text)
    return text[:keep] + "*" * (len(text) - 2 * keep) + text[-keep:]


def hidden(length: int, grade: int, position: int) -> bool:
    """Whether ``mask(value, grade)`` hides the character at ``position`` of a value ``length`` long (a
    position past the end counts as hidden: nothing may be read there)."""
    if length == 0 or grade < Sensitivity.SENSITIVE:
        return False
    if grade >= Sensitivity.SECRET:
        return True
    keep = length // 4
    return keep == 0 or position >= length or keep <= position < length - keep


@dataclass(frozen=True)
class Part:
    """A field whose value repeats characters of an identifier."""

    field: str
    at: int  # the identifier's position of the first repeated character
    chars: tuple[int, ...] | None  # the field's own positions of the repeated characters, in order;
    # None: the value as a whole stands for the identifier's character at ``at`` (the sex)


LENGTH = 18  # of a resident ID number and of a credit code
BIRTH_DATE = (0, 1, 2, 3, 5, 6, 8, 9)  # the digits of YYYY-MM-DD
AREA = (0, 1, 2, 3, 4, 5)
IDENTIFIERS: dict[str, dict[str, tuple[Part, ...]]] = {
    RegistryKind.POPULATION: {
        # GB 11643: area code, birth date YYYYMMDD, sequence (odd for men), check character.
        "id_number": (Part("area_code", 0, AREA), Part("birth_date", 6, BIRTH_DATE), Part("sex", 16, None)),
    },
    RegistryKind.LEGAL_ENTITY: {
        # GB 32100: authority, entity type, the registering authority's area code, organisation code, check.
        "uscc": (Part("area_code", 2, AREA),),
    },
}


def parts_of(kind: str) -> dict[str, tuple[Part, ...]]:
    return IDENTIFIERS.get(kind, {})


def masked_grade(
    identifier: str, grades: Mapping[str, int], clear: Collection[str], hide: Mapping[str, int]
) -> int | None:
    """The grade the recipient sees ``identifier`` masked at (None: it sees it in clear, or not at all).
    ``grades`` and ``clear`` are this answer's; ``hide`` what the department sees masked anywhere."""
    own = grades.get(identifier)
    if identifier in clear or (own is not None and own < Sensitivity.SENSITIVE):
        return None  # known in clear: the fields it repeats tell nothing more
    seen = [g for g in (own, hide.get(identifier)) if g is not None and g >= Sensitivity.SENSITIVE]
    return min(seen) if seen else None


def hidden_parts(
    kind: str, grades: Mapping[str, int], clear: Collection[str], hide: Mapping[str, int]
) -> list[tuple[str, Part, int]]:
    """(identifier, part, the identifier's grade) for every part this answer must mask."""
    found = []
    for identifier, parts in parts_of(kind).items():
        grade = masked_grade(identifier, grades, clear, hide)
        if grade is not None:
            found += [(identifier, part, grade) for part in parts]
    return found


def _masked_part(value: Any, grade: int, clear: bool, part: Part, length: int, id_grade: int) -> Any:
    """A part's value with the characters at the identifier's hidden positions masked, on top of its own
    grade (the identifier's value is ``length`` long)."""
    if value in (None, "") or length == 0:
        return value if clear else mask(value, grade)
    if part.chars is None:
        if hidden(length, id_grade, part.at):
            return mask(value, Sensitivity.SECRET)
        return value if clear else mask(value, grade)
    own = Sensitivity.PUBLIC if clear else grade
    if own >= Sensitivity.SECRET:
        return mask(value, own)
    text = str(value)
    repeats = {c: part.at + i for i, c in enumerate(part.chars)}
    out = [
        "*" if hidden(len(text), own, t) or (t in repeats and hidden(length, id_grade, repeats[t])) else char
        for t, char in enumerate(text)
    ]
    masked = "".join(out)
    return value if masked == text else masked


def mask_record(
    data: Mapping[str, Any],
    names: Iterable[str],
    grades: Mapping[str, int],
    clear: Collection[str] = (),
    *,
    kind: str = "",
    hide: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The fields ``names`` of a record (its full values in ``data``) as a recipient may see them.
    ``grades``: the grade of each field it sees in this answer (every name has one); ``clear``: those given
    in clear; ``kind``: the registry's kind; ``hide``: identifiers the department may see masked anywhere,
    by grade (``RegistryView.masked_identifiers``)."""
    out = {n: data.get(n) if n in clear else mask(data.get(n), grades[n]) for n in names}
    for identifier, part, id_grade in hidden_parts(kind, grades, clear, hide or {}):
        if part.field in out:
            value = data.get(identifier)
            out[part.field] = _masked_part(
                data.get(part.field),
                grades[part.field],
                part.field in clear,
                part,
                0 if value is None else len(str(value)),
                id_grade,
            )
    return out


def unfilterable(
    kind: str,
    names: Iterable[str],
    grades: Mapping[str, int],
    clear: Collection[str],
    hide: Mapping[str, int],
) -> list[str]:
    """Fields among ``names`` a recipient may not filter by: parts of an identifier it sees masked (a match
    would tell it their value, which it only ever sees masked)."""
    masked = {
        part.field
        for _i, part, grade in hidden_parts(kind, grades, clear, hide)
        if any(hidden(LENGTH, grade, part.at + i) for i in range(len(part.chars or (0,))))
    }
    return sorted(set(names) & masked)
