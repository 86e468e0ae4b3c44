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
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
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


# Each parser's ``spec`` names it for the vectorised checks in ``columnar`` (which defer to the parser on
# any row they cannot decide).


def _text(limit: int) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if len(value) > limit:
            raise RowError(_("超过 %(n)d 个字符") % {"n": limit})
        return value

    parse.spec = ("text", limit)  # type: ignore[attr-defined]
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

    parse.spec = ("choice", dict(mapping))  # type: ignore[attr-defined]
    return parse


def _digits(length: int) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if len(value) != length or not value.isdigit():
            raise RowError(_("应为 %(n)d 位数字") % {"n": length})
        return value

    parse.spec = ("digits", length)  # type: ignore[attr-defined]
    return parse


def _decimal(value: str) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise RowError(_("不是数字")) from None
    if not number.is_finite() or number < 0:
        raise RowError(_("应为非负数"))
    return number


_id_number.spec = ("id_number",)  # type: ignore[attr-defined]
_area.spec = ("area",)  # type: ignore[attr-defined]
_date.spec = ("date",)  # type: ignore[attr-defined]
_decimal.spec = ("decimal",)  # type: ignore[attr-defined]


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


def empty_value(kind: str, field: Field) -> Any:
    """What an empty optional field stores."""
    return DEFAULTS.get(field.name, {}).get(kind, None if field.parse in (_date, _decimal) else "")


def parse_row(kind: str, raw: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    """One source row → registry values, or RowError naming the field and the reason. The definition of a
    row's meaning: ``columnar`` checks the same faster and defers to this for any row it cannot decide."""
    values: dict[str, Any] = {}
    for field in FIELDS[kind]:
        source = mapping.get(field.name, field.name)
        text = str(raw.get(source) or "").strip()
        if not text:
            if field.required:
                raise RowError(_("“%(f)s”不能为空") % {"f": source})
            values[field.name] = empty_value(kind, field)
            continue
        try:
            values[field.name] = field.parse(text)
        except RowError as exc:
            raise RowError(_("“%(f)s”%(r)s") % {"f": source, "r": exc}) from None
    return values


# ---- reading sources -----------------------------------------------------------------------------------


def read_rows(name: str, content: bytes) -> Iterable[dict[str, Any]]:
    """Rows of a CSV (UTF-8 or GB18030), JSON (a list of objects, or JSON lines) or Excel file. A CSV comes
    back as a ``columnar.Table`` where Polars reads it as the csv module would (validated a slice at a
    time), otherwise as the csv module's rows."""
    lower = name.lower()
    if lower.endswith((".xlsx", ".xlsm")):
        return _excel_rows(content)
    if lower.endswith((".json", ".jsonl")):
        text = content.decode("utf-8-sig")
        return (
            json.loads(text)
            if text.lstrip().startswith("[")
            else [json.loads(line) for line in text.splitlines() if line.strip()]
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = content.decode("gb18030")
    from . import columnar  # Polars is loaded by loads only, not by every process that imports the loader

    return columnar.read_csv(text) or list(csv.DictReader(io.StringIO(text)))


def _excel_rows(content: bytes) -> Iterator[dict[str, Any]]:
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(content), read_only=True, data_only=True).active
    rows = sheet.iter_rows(values_only=True)
    header = [str(h or "").strip() for h in next(rows, [])]
    for row in rows:
        yield {h: ("" if v is None else str(v)) for h, v in zip(header, row, strict=False)}


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


def job_create(
    registry: Registry,
    *,
    source: str,
    mapping: Mapping[str, str] | None = None,
    batch_size: int = 50_000,
    acting_user: Any = None,
) -> LoadJob:
    """A new load job, not yet run (``resume`` runs it)."""
    if registry.kind not in FIELDS:
        raise ValueError(_("自定义库请通过接口逐条写入。"))
    return LoadJob.objects.create(
        registry=registry,
        source=source[:200],
        mapping=dict(mapping or {}),
        batch_size=batch_size,
        started_by=acting_user,
    )


def load(
    registry: Registry,
    rows: Iterable[Mapping[str, Any]],
    *,
    source: str,
    mapping: Mapping[str, str] | None = None,
    batch_size: int = 50_000,
    acting_user: Any = None,
) -> LoadReport:
    """Start a load job and run it to the end (no audit record: ``services.registry_load`` writes one)."""
    job = job_create(registry, source=source, mapping=mapping, batch_size=batch_size, acting_user=acting_user)
    return resume(job, rows)


def _parse_batch(kind: str, mapping: Mapping[str, str], frame: Any) -> tuple[Any, list[list[Any]]]:
    """Validate one batch (a ``columnar`` frame): the good rows as a frame (the last one for a key wins)
    and the rejected lines with reasons."""
    from . import columnar

    fields = FIELDS[kind]
    return columnar.parse(
        frame,
        fields,
        mapping,
        {f.name: empty_value(kind, f) for f in fields},
        lambda raw: parse_row(kind, raw, mapping),
    )


def resume(
    job: LoadJob,
    rows: Iterable[Mapping[str, Any]],
    *,
    workers: int | None = None,
    finished: Callable[[LoadJob], None] | None = None,
) -> LoadReport:
    """Run (or continue) a job over the same rows: batches already applied are skipped, not re-applied.
    The next batch is validated in a thread while the database takes the current one (Polars works
    outside the GIL), so both cores work; ``workers=0`` validates each batch in turn. ``finished(job)``
    runs in the transaction that marks the job done (an audit record commits with the job's end; an
    interrupted load never calls it)."""
    from . import columnar

    kind = job.registry.kind
    sources = [job.mapping.get(f.name, f.name) for f in FIELDS[kind]]
    batches = (
        frame
        for number, frame in enumerate(columnar.batches(rows, job.batch_size, sources))
        if number >= job.batches_done
    )
    number = job.batches_done
    if workers is None:
        workers = 1 if (os.cpu_count() or 1) > 1 else 0
    if workers:
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending: deque[Future] = deque()
            while True:
                try:
                    frame = next(batches)
                except StopIteration:
                    break
                except Exception:
                    while pending:  # the source broke: what was read in full still goes in
                        _apply_batch(job, kind, number, *pending.popleft().result())
                        number += 1
                    raise
                pending.append(pool.submit(_parse_batch, kind, job.mapping, frame))
                if len(pending) > 1:  # one batch validated ahead, not the whole file in memory
                    _apply_batch(job, kind, number, *pending.popleft().result())
                    number += 1
            while pending:
                _apply_batch(job, kind, number, *pending.popleft().result())
                number += 1
    else:
        for frame in batches:
            _apply_batch(job, kind, number, *_parse_batch(kind, job.mapping, frame))
            number += 1
    with transaction.atomic():
        job.status = LoadJob.DONE
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "finished_at"])
        if finished is not None:
            finished(job)
    return LoadReport(job)


def _apply_batch(job: LoadJob, kind: str, number: int, good: Any, rejections: list[list[Any]]) -> None:
    """One batch, all or nothing, with the job's progress committed in the same transaction."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            _apply_postgresql(job, kind, good)
        else:
            _apply_orm(job, kind, _rows(kind, good))
        job.batches_done = number + 1
        job.accepted += good.height
        job.rejected += len(rejections)
        room = MAX_REJECTIONS_KEPT - len(job.rejections)
        if room > 0:
            job.rejections = job.rejections + rejections[:room]
        job.save(update_fields=["batches_done", "accepted", "rejected", "rejections"])


def _rows(kind: str, good: Any) -> list[dict[str, Any]]:
    """A batch's good rows as the parser's values (decimals from their text)."""
    decimals = [f.name for f in FIELDS[kind] if f.parse is _decimal]
    rows = good.to_dicts()
    for row in rows:
        for name in decimals:
            if row[name] is not None:
                row[name] = Decimal(row[name])
    return rows


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


def _apply_postgresql(job: LoadJob, kind: str, good: Any) -> None:
    import polars as pl

    model = MODELS[kind]
    table = model._meta.db_table
    names = [f.name for f in FIELDS[kind]]
    key = names[0]
    area = feed.AREA_FIELD
    # Two numbers per row: the odd one for the record, the even one below it for a tombstone if it moves.
    first = feed.allocate(job.registry_id, 2 * good.height)
    # The batch as CSV in one piece: an empty text is quoted (""), a missing value is not (NULL).
    data = good.select(*names, (pl.int_range(good.height, dtype=pl.Int64) * 2 + first + 1).alias("seq"))
    csv_bytes = data.write_csv(include_header=False, date_format="%Y-%m-%d").encode()
    with connection.cursor() as cursor:
        stage = f"load_stage_{kind}"
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "  # noqa: S608
            f"SELECT {', '.join(names)}, seq FROM {table} WITH NO DATA"
        )
        # ON COMMIT empties it, but two batches can share one transaction (a push inside a request).
        cursor.execute(f"TRUNCATE {stage}")
        with cursor.cursor.copy(f"COPY {stage} ({', '.join(names)}, seq) FROM STDIN (FORMAT csv)") as copy:
            copy.write(csv_bytes)
        # New records go in first, in key order (the key's index is filled page by page, not at random), and
        # leave the stage: a fresh load never pays for the history join below.
        cursor.execute(
            f"WITH n AS (INSERT INTO {table} ({', '.join(names)}, updated_at, source, seq) "  # noqa: S608
            f"SELECT {', '.join(names)}, now(), %s, seq FROM {stage} ORDER BY {key} "
            f"ON CONFLICT ({key}) DO NOTHING RETURNING {key}) "
            f"DELETE FROM {stage} s USING n WHERE s.{key} = n.{key}",
            [job.source[:100]],
        )
        # History and tombstones of the records that were there, from one join, while the old values are
        # still in place: one history row per record that really changes, one tombstone per record that leaves its area.
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
