"""Bulk load into the base registries: rows from CSV, Excel or JSON (or any iterable of dicts, such as a
cursor over another database's table), a column mapping, validation per field, and a report of rejected
rows with their line and reason.

Rows are applied in batches, each all-or-nothing, with the job's progress committed with the batch: an
interrupted load is resumed with ``resume`` and never applies a batch twice. New records are inserted,
existing ones (same key) updated, and every update of an existing record is written to the change history
with its old and new values. On PostgreSQL a batch goes through COPY into a temporary table and one
INSERT … ON CONFLICT, with the history computed in the same statement; elsewhere through the ORM."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tongban.core import codes

from . import feed
from .models import (
    LegalEntityRecord,
    LoadJob,
    PersonRecord,
    RecordChange,
    Registry,
    RegistryKind,
    Tombstone,
)

MAX_REJECTIONS_KEPT = 1000


class RowError(ValueError):
    pass


# ---- field parsers: each returns the stored value or raises RowError with a reason in Chinese ----------


def _text(limit: int) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if len(value) > limit:
            raise RowError(_("超过 %(n)d 个字符") % {"n": limit})
        return value

    return parse


def _id_number(value: str) -> str:
    try:
        return codes.parse_resident_id(value).number
    except codes.CodeError as exc:
        raise RowError(str(exc)) from None


def _uscc(value: str) -> str:
    try:
        return codes.parse_uscc(value).code
    except codes.CodeError as exc:
        raise RowError(str(exc)) from None


def _area(value: str) -> str:
    try:
        return codes.parse_area_code(value, allow_township=True).code
    except codes.CodeError as exc:
        raise RowError(str(exc)) from None


def _date(value: str) -> dt.date:
    text = value.replace("/", "-")
    try:
        return dt.date.fromisoformat(text if "-" in text else f"{text[:4]}-{text[4:6]}-{text[6:8]}")
    except ValueError:
        raise RowError(_("不是有效日期（应为 YYYY-MM-DD）")) from None


def _choice(mapping: Mapping[str, str]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in mapping:
            raise RowError(_("应为以下之一：%(v)s") % {"v": "、".join(dict.fromkeys(mapping))})
        return mapping[value]

    return parse


def _digits(length: int) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if len(value) != length or not value.isdigit():
            raise RowError(_("应为 %(n)d 位数字") % {"n": length})
        return value

    return parse


def _decimal(value: str) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise RowError(_("不是数字")) from None
    if not number.is_finite() or number < 0:
        raise RowError(_("应为非负数"))
    return number


@dataclass(frozen=True)
class Field:
    name: str
    parse: Callable[[str], Any]
    required: bool = False


SEX = {"M": "M", "F": "F", "男": "M", "女": "F", "1": "M", "2": "F"}
PERSON_STATUS = {
    "living": "living",
    "deceased": "deceased",
    "emigrated": "emigrated",
    "在世": "living",
    "死亡": "deceased",
    "迁出": "emigrated",
}
ENTITY_STATUS = {
    "active": "active",
    "cancelled": "cancelled",
    "revoked": "revoked",
    "存续": "active",
    "注销": "cancelled",
    "吊销": "revoked",
}

FIELDS: dict[str, list[Field]] = {
    RegistryKind.POPULATION: [
        Field("id_number", _id_number, required=True),
        Field("name", _text(60), required=True),
        Field("sex", _choice(SEX)),
        Field("birth_date", _date),
        Field("ethnicity", _digits(2)),
        Field("household_address", _text(200)),
        Field("area_code", _area),
        Field("marital_status", _digits(2)),
        Field("status", _choice(PERSON_STATUS)),
        Field("phone", _text(20)),
        Field("effective_from", _date),
    ],
    RegistryKind.LEGAL_ENTITY: [
        Field("uscc", _uscc, required=True),
        Field("name", _text(200), required=True),
        Field("entity_type", _text(60)),
        Field("legal_rep_id_number", _id_number),
        Field("registered_capital", _decimal),
        Field("established_on", _date),
        Field("industry_code", _text(5)),
        Field("address", _text(200)),
        Field("area_code", _area),
        Field("business_scope", _text(2000)),
        Field("status", _choice(ENTITY_STATUS)),
        Field("effective_from", _date),
    ],
}
MODELS = {RegistryKind.POPULATION: PersonRecord, RegistryKind.LEGAL_ENTITY: LegalEntityRecord}
DEFAULTS = {"status": {RegistryKind.POPULATION: "living", RegistryKind.LEGAL_ENTITY: "active"}}


def parse_row(kind: str, raw: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    """One source row → registry values, or RowError naming the field and the reason."""
    values: dict[str, Any] = {}
    for field in FIELDS[kind]:
        source = mapping.get(field.name, field.name)
        text = str(raw.get(source) or "").strip()
        if not text:
            if field.required:
                raise RowError(_("“%(f)s”不能为空") % {"f": source})
            values[field.name] = DEFAULTS.get(field.name, {}).get(
                kind, None if field.parse in (_date, _decimal) else ""
            )
            continue
        try:
            values[field.name] = field.parse(text)
        except RowError as exc:
            raise RowError(_("“%(f)s”%(r)s") % {"f": source, "r": exc}) from None
    return values


# ---- reading sources -----------------------------------------------------------------------------------


def read_rows(name: str, content: bytes) -> Iterator[dict[str, Any]]:
    """Rows of a CSV (UTF-8 or GB18030), JSON (a list of objects, or JSON lines) or Excel file."""
    lower = name.lower()
    if lower.endswith((".xlsx", ".xlsm")):
        from openpyxl import load_workbook

        sheet = load_workbook(io.BytesIO(content), read_only=True, data_only=True).active
        rows = sheet.iter_rows(values_only=True)
        header = [str(h or "").strip() for h in next(rows, [])]
        for row in rows:
            yield {h: ("" if v is None else str(v)) for h, v in zip(header, row, strict=False)}
    elif lower.endswith((".json", ".jsonl")):
        text = content.decode("utf-8-sig")
        data = (
            json.loads(text)
            if text.lstrip().startswith("[")
            else [json.loads(line) for line in text.splitlines() if line.strip()]
        )
        yield from data
    else:
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = content.decode("gb18030")
        yield from csv.DictReader(io.StringIO(text))


# ---- loading -------------------------------------------------------------------------------------------


@dataclass
class LoadReport:
    job: LoadJob

    @property
    def accepted(self) -> int:
        return self.job.accepted

    @property
    def rejected(self) -> int:
        return self.job.rejected


def load(
    registry: Registry,
    rows: Iterable[Mapping[str, Any]],
    *,
    source: str,
    mapping: Mapping[str, str] | None = None,
    batch_size: int = 50_000,
    acting_user: Any = None,
) -> LoadReport:
    """Start a load job and run it to the end."""
    if registry.kind not in FIELDS:
        raise ValueError(_("自定义库请通过接口逐条写入。"))
    job = LoadJob.objects.create(
        registry=registry,
        source=source[:200],
        mapping=dict(mapping or {}),
        batch_size=batch_size,
        started_by=acting_user,
    )
    return resume(job, rows)


def _batches(rows: Iterable[Mapping[str, Any]], size: int) -> Iterator[list[tuple[int, Mapping[str, Any]]]]:
    batch: list[tuple[int, Mapping[str, Any]]] = []
    for line, raw in enumerate(rows, start=2):  # line 1 is the header
        batch.append((line, raw))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _parse_batch(
    kind: str, mapping: Mapping[str, str], batch: list[tuple[int, Mapping[str, Any]]]
) -> tuple[list[dict[str, Any]], list[list[Any]]]:
    """Validate one batch: the good rows (the last one for a key wins) and the rejected lines with reasons."""
    good: dict[str, dict[str, Any]] = {}
    rejections: list[list[Any]] = []
    key = FIELDS[kind][0].name
    for line, raw in batch:
        try:
            values = parse_row(kind, raw, mapping)
        except RowError as exc:
            rejections.append([line, str(exc)])
            continue
        good[values[key]] = values
    return list(good.values()), rejections


def resume(job: LoadJob, rows: Iterable[Mapping[str, Any]], *, workers: int | None = None) -> LoadReport:
    """Run (or continue) a job over the same rows: batches already applied are skipped, not re-applied.
    Validation of the next batches runs in another process while the database takes the current one, so
    both cores work (``workers=0`` validates in this process)."""
    kind = job.registry.kind
    batches = (
        (number, batch)
        for number, batch in enumerate(_batches(rows, job.batch_size))
        if number >= job.batches_done
    )
    if workers is None:
        workers = 1 if (os.cpu_count() or 1) > 1 else 0
    if workers:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            pending: deque[tuple[int, Future]] = deque()

            def apply_next() -> None:
                done_number, future = pending.popleft()
                _apply_batch(job, kind, done_number, *future.result())

            while True:
                try:
                    number, batch = next(batches)
                except StopIteration:
                    break
                except Exception:
                    while pending:  # the source broke: what was read in full still goes in
                        apply_next()
                    raise
                pending.append((number, pool.submit(_parse_batch, kind, job.mapping, batch)))
                if len(pending) > 2:  # keep two batches validated ahead, not the whole file in memory
                    apply_next()
            while pending:
                apply_next()
    else:
        for number, batch in batches:
            _apply_batch(job, kind, number, *_parse_batch(kind, job.mapping, batch))
    job.status = LoadJob.DONE
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "finished_at"])
    return LoadReport(job)


def _apply_batch(
    job: LoadJob, kind: str, number: int, good: list[dict[str, Any]], rejections: list[list[Any]]
) -> None:
    """One batch, all or nothing, with the job's progress committed in the same transaction."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            _apply_postgresql(job, kind, good)
        else:
            _apply_orm(job, kind, good)
        job.batches_done = number + 1
        job.accepted += len(good)
        job.rejected += len(rejections)
        room = MAX_REJECTIONS_KEPT - len(job.rejections)
        if room > 0:
            job.rejections = job.rejections + rejections[:room]
        job.save(update_fields=["batches_done", "accepted", "rejected", "rejections"])


def _apply_orm(job: LoadJob, kind: str, rows: list[dict[str, Any]]) -> None:
    model = MODELS[kind]
    key = FIELDS[kind][0].name
    now = timezone.now()
    existing = {getattr(r, key): r for r in model.objects.filter(**{f"{key}__in": [r[key] for r in rows]})}
    new, changed, history, moves = [], [], [], []
    for values in rows:
        record = existing.get(values[key])
        if record is None:
            new.append(model(**values, updated_at=now, source=job.source[:100]))
            continue
        diff = {
            name: [_plain(getattr(record, name)), _plain(value)]
            for name, value in values.items()
            if _plain(getattr(record, name)) != _plain(value)
        }
        if diff:
            if feed.AREA_FIELD in diff:
                moves.append((values[key], *(v or "" for v in diff[feed.AREA_FIELD])))
            for name, value in values.items():
                setattr(record, name, value)
            record.updated_at, record.source = now, job.source[:100]
            changed.append(record)
            history.append(
                RecordChange(
                    registry=job.registry,
                    key=values[key],
                    changes=diff,
                    source=job.source[:100],
                    load=job,
                    actor=job.started_by,
                    effective_from=values.get("effective_from"),
                )
            )
    # Tombstones of moved records take the lower numbers: a subscriber drops before it adds.
    numbers = itertools.count(feed.allocate(job.registry_id, len(moves) + len(new) + len(changed)))
    Tombstone.objects.bulk_create(
        [
            Tombstone(registry_id=job.registry_id, key=k, seq=next(numbers), area=old, moved_to=to, at=now)
            for k, old, to in moves
        ],
        batch_size=2000,
    )
    for record in (*new, *changed):
        record.seq = next(numbers)
    model.objects.bulk_create(new, batch_size=2000)
    if changed:
        model.objects.bulk_update(
            changed, [f.name for f in FIELDS[kind]] + ["updated_at", "source", "seq"], batch_size=2000
        )
    RecordChange.objects.bulk_create(history, batch_size=2000)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if value is None:
        return None
    return str(value)


def _apply_postgresql(job: LoadJob, kind: str, rows: list[dict[str, Any]]) -> None:
    model = MODELS[kind]
    table = model._meta.db_table
    names = [f.name for f in FIELDS[kind]]
    key = names[0]
    area = feed.AREA_FIELD
    # Two numbers per row: the odd one for the record, the even one below it for a tombstone if it moves.
    first = feed.allocate(job.registry_id, 2 * len(rows))
    with connection.cursor() as cursor:
        stage = f"load_stage_{kind}"
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "  # noqa: S608
            f"SELECT {', '.join(names)}, seq FROM {table} WITH NO DATA"
        )
        # ON COMMIT empties it, but two batches can share one transaction (a push inside a request).
        cursor.execute(f"TRUNCATE {stage}")
        with cursor.cursor.copy(f"COPY {stage} ({', '.join(names)}, seq) FROM STDIN") as copy:
            for i, values in enumerate(rows):
                copy.write_row([*(values[name] for name in names), first + 2 * i + 1])
        # History and tombstones first, from one join, while the old values are still in place: one history
        # row per record that really changes, one tombstone per record that leaves its area.
        diff = ", ".join(
            f"'{n}', CASE WHEN t.{n} IS DISTINCT FROM s.{n} THEN jsonb_build_array(t.{n}, s.{n}) END"
            for n in names
        )
        changed = " OR ".join(f"t.{n} IS DISTINCT FROM s.{n}" for n in names[1:])
        cursor.execute(
            f"WITH j AS (SELECT s.*, t.{area} AS old_area, ({changed}) AS changed, "  # noqa: S608
            f"jsonb_strip_nulls(jsonb_build_object({diff})) AS diff "
            f"FROM {stage} s JOIN {table} t ON t.{key} = s.{key}), "
            "h AS (INSERT INTO registries_recordchange "
            "(registry_id, key, changes, source, actor_id, load_id, at, effective_from) "
            f"SELECT %s, {key}, diff, %s, %s, %s, now(), effective_from FROM j WHERE changed) "
            "INSERT INTO registries_tombstone (registry_id, key, seq, area, moved_to, at) "
            f"SELECT %s, {key}, seq - 1, coalesce(old_area, ''), coalesce({area}, ''), now() FROM j "
            f"WHERE coalesce(old_area, '') <> coalesce({area}, '')",
            [job.registry_id, job.source[:100], job.started_by_id, job.pk, job.registry_id],
        )
        updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in names[1:])
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(names)}, updated_at, source, seq) "  # noqa: S608
            f"SELECT {', '.join(names)}, now(), %s, seq FROM {stage} "
            f"ON CONFLICT ({key}) DO UPDATE SET {updates}, updated_at = now(), source = EXCLUDED.source, "
            "seq = EXCLUDED.seq "
            f"WHERE ({', '.join(f'{table}.{n}' for n in names[1:])}) IS DISTINCT FROM "
            f"({', '.join(f'EXCLUDED.{n}' for n in names[1:])})",
            [job.source[:100]],
        )
