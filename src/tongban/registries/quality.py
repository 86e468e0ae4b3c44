"""Data-quality monitoring (数据质量监测): declarative rules compiled to SQL and run inside the database
(one statement per rule, never a Python loop per record), issues kept per record and rule and sent back to
the owning department (纠错: correct, or explain why not), scores per rule, run and department, with
trends. Works on PostgreSQL and SQLite (the few vendor-specific fragments are marked)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tongban.core import codes

from .access import AccessError
from .loader import FIELDS
from .models import (
    LegalEntityRecord,
    PersonRecord,
    QualityIssue,
    QualityRule,
    QualityRun,
    Registry,
    RegistryKind,
    RegistryRecord,
    RuleKind,
)

TABLES = {
    RegistryKind.POPULATION: (PersonRecord._meta.db_table, "id_number"),
    RegistryKind.LEGAL_ENTITY: (LegalEntityRecord._meta.db_table, "uscc"),
}
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,59}$")
NULLABLE = {"birth_date", "effective_from", "established_on", "registered_capital"}


class RuleError(AccessError):
    """A rule that cannot be compiled (400 where it reaches a caller)."""


def _pg() -> bool:
    return connection.vendor == "postgresql"


def _matches(column: str, regex: str, glob: str) -> str:
    """A pattern test: a regular expression on PostgreSQL, a GLOB on SQLite."""
    return f"{column} ~ '{regex}'" if _pg() else f"{column} GLOB '{glob}'"


def _position(alphabet: str, char_sql: str) -> str:
    return f"strpos('{alphabet}', {char_sql})" if _pg() else f"instr('{alphabet}', {char_sql})"


def _in(expr: str, values: Any) -> str:
    """``expr IN (…)`` over a constant list of core.codes (plain letters and digits, quoted inline)."""
    if not all(v.isascii() and v.isalnum() for v in values):
        raise ValueError("only plain code values go into SQL text")
    quoted = ", ".join(f"'{v}'" for v in sorted(values))
    return f"{expr} IN ({quoted})"


def id_check_sql(first17: str) -> str:
    """The GB 11643 check character of a 17-digit SQL expression (%% : a literal % beside parameters)."""
    digits = " + ".join(
        f"CAST(substr({first17}, {i + 1}, 1) AS INTEGER) * {w}" for i, w in enumerate(codes.ID_WEIGHTS)
    )
    return f"substr('{codes.ID_CHECK_CHARS}', (({digits}) %% 11) + 1, 1)"


def org_code_check_sql(expr: str, start: int = 1) -> str:
    """The GB 11714 check character of the 8 characters of a SQL expression from ``start`` on (digits and
    capital letters)."""
    weighted = " + ".join(
        f"({_position(codes.ORG_ALPHABET, f'substr({expr}, {start + i}, 1)')} - 1) * {w}"
        for i, w in enumerate(codes.ORG_WEIGHTS)
    )
    return f"substr('{codes.ORG_CHECK_CHARS}', (({weighted}) %% 11) + 1, 1)"


def uscc_check_sql(first17: str) -> str:
    """The GB 32100 check character of a 17-character SQL expression."""
    weighted = " + ".join(
        f"({_position(codes.USCC_ALPHABET, f'substr({first17}, {i + 1}, 1)')} - 1) * {w}"
        for i, w in enumerate(codes.USCC_WEIGHTS)
    )
    return f"substr('{codes.USCC_ALPHABET}', ((31 - (({weighted}) %% 31)) %% 31) + 1, 1)"


# The two code rules flag exactly the non-empty values that are not a code as core.codes gives it back:
# codes.parse_resident_id / parse_uscc raise, or return a different spelling (lower case, spaces), which
# the loader would have stored normalised and a lookup by key would miss. Empty values are the
# completeness rule's. Every check is SQL on both databases (one statement, no Python per record); the
# property tests in tests/test_quality_codes.py hold the two definitions together. The shape is tested
# first (CASE, not AND/OR: PostgreSQL refuses to cast a non-digit), and on PostgreSQL with a byte length
# and an unbounded pattern: a regular expression with {17} or {10} costs four times the whole check.

_MONTH_DAYS = sorted(
    {f"{day:%m%d}" for day in (dt.date(2000, 1, 1) + dt.timedelta(days=n) for n in range(366))}
)


def _id_invalid(col: str, today: dt.date) -> tuple[str, list[Any]]:
    if _pg():  # all ASCII (the pattern) and 18 bytes, so 18 characters: 17 digits and a digit or X
        well_formed = f"octet_length({col}) = 18 AND {col} ~ '^[0-9]+X?$'"
    else:
        well_formed = f"{col} GLOB '{'[0-9]' * 17}[0-9X]'"
    year = f"CAST(substr({col}, 7, 4) AS INTEGER)"
    leap = f"(({year} %% 4 = 0 AND {year} %% 100 <> 0) OR {year} %% 400 = 0)"
    valid = (
        f"{_in(f'substr({col}, 1, 2)', codes.PROVINCE_PREFIXES)}"  # area: a province-level prefix
        f" AND {_in(f'substr({col}, 11, 4)', _MONTH_DAYS)}"  # a real date: a month and day of a leap year,
        f" AND (substr({col}, 11, 4) <> '0229' OR {leap})"  # and 29 February only in one
        f" AND CAST(substr({col}, 7, 8) AS INTEGER) BETWEEN %s AND %s"  # neither too early nor in the future
        f" AND substr({col}, 18, 1) = {id_check_sql(col)}"
    )
    where = f"({col} <> '' AND CASE WHEN {well_formed} THEN NOT ({valid}) ELSE TRUE END)"
    return where, [int(f"{codes.ID_EARLIEST_BIRTH:%Y%m%d}"), int(f"{today:%Y%m%d}")]


def _uscc_invalid(col: str) -> str:
    chars = f"[{codes.USCC_ALPHABET}]"
    if _pg():  # all in the alphabet (ASCII) and 18 bytes; characters 3–8 digits
        well_formed = f"octet_length({col}) = 18 AND {col} ~ '^{chars}+$' AND ltrim(substr({col}, 3, 6), '0123456789') = ''"
    else:
        well_formed = f"{col} GLOB '{chars * 2}{'[0-9]' * 6}{chars * 10}'"
    pairs = [
        authority + category
        for authority, categories in codes.USCC_AUTHORITIES.items()
        for category in categories
    ]
    valid = (
        f"{_in(f'substr({col}, 1, 2)', pairs)}"  # registration authority and the categories it registers
        f" AND {_in(f'substr({col}, 3, 2)', codes.USCC_AREA_PREFIXES)}"  # area of the registering office
        f" AND substr({col}, 17, 1) = {org_code_check_sql(col, start=9)}"  # the embedded GB 11714 code
        f" AND substr({col}, 18, 1) = {uscc_check_sql(col)}"
    )
    return f"({col} <> '' AND CASE WHEN {well_formed} THEN NOT ({valid}) ELSE TRUE END)"


def failing_sql(rule: QualityRule) -> tuple[str, str, list[Any]]:
    """(table, WHERE clause over alias t selecting the failing records, parameters)."""
    custom = rule.registry.kind == RegistryKind.CUSTOM
    table, _key = table_and_key(rule.registry)
    known = (
        set(rule.registry.schema.get("properties", {}))
        if custom
        else {f.name for f in FIELDS[rule.registry.kind]}
    )
    # Field names go into the SQL text: only the registry's own fields, and only plain names, are accepted.
    named = [rule.field] if rule.field else []
    named += list(rule.params.get("fields", []))
    if any(name not in known or not IDENTIFIER.match(name) for name in named):
        raise RuleError(_("规则引用了库中不存在的字段。"))
    if custom and rule.kind in (RuleKind.BIRTH_MATCHES_ID, RuleKind.LEGAL_REP_ALIVE, RuleKind.RANGE):
        raise RuleError(_("自定义库不支持此类规则。"))
    column = _json_field if custom else (lambda name: f"t.{name}")
    col = column(rule.field) if rule.field else ""
    params: list[Any] = []
    kind = rule.kind
    if kind == RuleKind.COMPLETENESS:
        where = (
            f"{col} IS NULL" if rule.field in NULLABLE and not custom else f"({col} IS NULL OR {col} = '')"
        )
    elif kind == RuleKind.ID_NUMBER:
        where, extra = _id_invalid(col, dt.date.today())  # core.codes' "today" for birth dates
        params += extra
    elif kind == RuleKind.USCC:
        where = _uscc_invalid(col)
    elif kind == RuleKind.AREA_CODE:
        six = _matches(col, "^[0-9]{6}$", "[0-9]" * 6)
        nine = _matches(col, "^[0-9]{9}$", "[0-9]" * 9)
        where = f"({col} <> '' AND NOT ({six}) AND NOT ({nine}))"
    elif kind == RuleKind.CODE_LIST:
        values = [str(v) for v in rule.params.get("values", [])]
        if not values:
            raise RuleError(_("代码表规则需要 values。"))
        where = f"({col} <> '' AND {col} NOT IN ({', '.join(['%s'] * len(values))}))"
        params += values
    elif kind == RuleKind.RANGE:
        low, high = rule.params.get("min"), rule.params.get("max")
        today = timezone.localdate().isoformat()
        clauses = []
        if low is not None:
            clauses.append(f"{col} < %s")
            params.append(today if low == "today" else low)
        if high is not None:
            clauses.append(f"{col} > %s")
            params.append(today if high == "today" else high)
        if not clauses:
            raise RuleError(_("范围规则需要 min 或 max。"))
        where = f"({col} IS NOT NULL AND ({' OR '.join(clauses)}))"
    elif kind == RuleKind.BIRTH_MATCHES_ID:
        formatted = "to_char(t.birth_date, 'YYYYMMDD')" if _pg() else "strftime('%%Y%%m%%d', t.birth_date)"
        where = f"(t.birth_date IS NOT NULL AND length(t.id_number) = 18 AND substr(t.id_number, 7, 8) <> {formatted})"
    elif kind == RuleKind.LEGAL_REP_ALIVE:
        people = PersonRecord._meta.db_table
        where = (
            f"(t.legal_rep_id_number <> '' AND NOT EXISTS (SELECT 1 FROM {people} p "  # noqa: S608
            "WHERE p.id_number = t.legal_rep_id_number AND p.status = 'living'))"
        )
    elif kind == RuleKind.DUPLICATE:
        fields = [f for f in rule.params.get("fields", []) if f.isidentifier()]
        if not fields:
            raise RuleError(_("重复规则需要 fields。"))
        group = ", ".join(column(f) for f in fields)
        scope = f"WHERE t.registry_id = {int(rule.registry_id)} " if custom else ""
        where = (
            f"({group}) IN (SELECT {group} FROM {table} t {scope}"  # noqa: S608
            f"GROUP BY {group} HAVING count(*) > 1)"
        )
    elif kind == RuleKind.TIMELINESS:
        days = int(rule.params.get("days", 365))
        where = "t.updated_at < %s"
        params.append(timezone.now() - dt.timedelta(days=days))
    else:
        raise RuleError(_("未知的规则类型。"))
    if custom:
        where = f"t.registry_id = {int(rule.registry_id)} AND {where}"
    return table, where, params


def table_and_key(registry: Registry) -> tuple[str, str]:
    if registry.kind == RegistryKind.CUSTOM:
        return RegistryRecord._meta.db_table, "key"
    return TABLES[registry.kind]


def _json_field(name: str) -> str:
    """A field of an operator-defined registry's JSON data, as text (``name`` is a checked identifier)."""
    return f"coalesce(t.data->>'{name}', '')" if _pg() else f"coalesce(json_extract(t.data, '$.{name}'), '')"


def run_checks(registry: Registry) -> QualityRun:
    """Check every enabled rule of a registry over all its records; returns the run with its scores."""
    table, key = table_and_key(registry)
    run = QualityRun.objects.create(registry=registry)
    started = run.started_at
    scope = f" WHERE registry_id = {int(registry.pk)}" if registry.kind == RegistryKind.CUSTOM else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}{scope}")  # noqa: S608
        records = cursor.fetchone()[0]
    results = {}
    for rule in registry.rules.filter(enabled=True):
        _, where, params = failing_sql(rule)
        with transaction.atomic(), connection.cursor() as cursor:
            # One statement: new failures open, known ones seen again, corrected ones that fail again reopen.
            cursor.execute(
                "INSERT INTO registries_qualityissue (rule_id, record_key, status, explanation, first_seen, last_seen) "  # noqa: S608
                f"SELECT %s, t.{key}, 'open', '', %s, %s FROM {table} t WHERE {where} "
                "ON CONFLICT (rule_id, record_key) DO UPDATE SET last_seen = excluded.last_seen, "
                "status = CASE WHEN registries_qualityissue.status = 'resolved' THEN 'open' "
                "ELSE registries_qualityissue.status END, resolved_at = NULL",
                [rule.pk, started, started, *params],
            )
            # Not seen this time: corrected at the source.
            QualityIssue.objects.filter(rule=rule, status=QualityIssue.OPEN, last_seen__lt=started).update(
                status=QualityIssue.RESOLVED, resolved_at=timezone.now()
            )
        failed = QualityIssue.objects.filter(rule=rule, status=QualityIssue.OPEN).count()
        results[rule.code] = {
            "name": rule.name,
            "failed": failed,
            "score": round(100.0 * (1 - failed / records), 2) if records else 100.0,
            "weight": rule.weight,
        }
    total_weight = sum(r["weight"] for r in results.values()) or 1
    run.records = records
    run.results = results
    run.score = (
        round(sum(r["score"] * r["weight"] for r in results.values()) / total_weight, 2) if results else 100.0
    )
    run.finished_at = timezone.now()
    run.save()
    return run


def recheck(issue: QualityIssue) -> bool:
    """Check one issue's record again now; resolve it when the rule holds. True when resolved."""
    table, key = table_and_key(issue.rule.registry)
    _, where, params = failing_sql(issue.rule)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {table} t WHERE t.{key} = %s AND {where}", [issue.record_key, *params])  # noqa: S608
        still = cursor.fetchone() is not None
    if not still and issue.status != QualityIssue.RESOLVED:
        QualityIssue.objects.filter(pk=issue.pk).update(
            status=QualityIssue.RESOLVED, resolved_at=timezone.now()
        )
        issue.status = QualityIssue.RESOLVED
    return not still


def recheck_record(registry: Registry, key: str) -> int:
    """After a record changed: re-check its open issues; returns how many were resolved."""
    return sum(
        recheck(i)
        for i in QualityIssue.objects.filter(
            rule__registry=registry, record_key=key, status=QualityIssue.OPEN
        ).select_related("rule__registry")
    )


def department_scores() -> list[tuple[Any, float]]:
    """Each owning department's score: the mean of its registries' latest run scores."""
    latest: dict[int, QualityRun] = {}
    for run in (
        QualityRun.objects.filter(finished_at__isnull=False)
        .select_related("registry__owner")
        .order_by("started_at")
    ):
        latest[run.registry_id] = run
    by_department: dict[Any, list[float]] = {}
    for run in latest.values():
        by_department.setdefault(run.registry.owner, []).append(run.score or 0)
    return sorted(
        ((d, round(sum(s) / len(s), 2)) for d, s in by_department.items()), key=lambda pair: pair[1]
    )


def trend(registry: Registry, limit: int = 30) -> list[tuple[dt.datetime, float]]:
    runs = QualityRun.objects.filter(registry=registry, finished_at__isnull=False).order_by("-started_at")[
        :limit
    ]
    return [(r.started_at, r.score) for r in reversed(list(runs))]
