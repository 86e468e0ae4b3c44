"""The vectorised load validation is pinned to its reference, ``loader.parse_row``: on generated batches of
valid, broken and oddly spelled rows both accept the same rows with the same values, in the same order, and
reject the same lines with the same reasons. The Polars CSV reading is pinned to the csv module's."""

import csv
import datetime as dt
import io
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tongban.core import codes
from tongban.registries import columnar, loader
from tongban.registries.models import RegistryKind

WHITESPACE = [" ", "\t", "\u3000", "\xa0", "\x1c", "\u2028"]


def reference(kind, mapping, rows):
    """The loader's batch semantics before it was vectorised: parse_row per row into a dict by key."""
    good, rejections = {}, []
    key = loader.FIELDS[kind][0].name
    for line, raw in enumerate(rows, start=2):
        try:
            values = loader.parse_row(kind, raw, mapping)
        except loader.RowError as exc:
            rejections.append([line, str(exc)])
            continue
        good[values[key]] = values
    return list(good.values()), rejections


def columnar_result(kind, mapping, rows):
    sources = [mapping.get(f.name, f.name) for f in loader.FIELDS[kind]]
    frames = list(columnar.batches(rows, max(1, len(rows)), sources))
    if not frames:
        return [], []
    good, rejections = loader._parse_batch(kind, mapping, frames[0])
    return loader._rows(kind, good), rejections


def _plain(rows):
    return [{k: (v.normalize() if isinstance(v, Decimal) else v) for k, v in r.items()} for r in rows]


def id_numbers():
    valid = st.builds(
        codes.make_resident_id,
        st.sampled_from(["339902", "110101", "990000", "330100"]),
        st.dates(dt.date(1790, 1, 1), dt.date(2035, 12, 31)),
        st.integers(0, 999),
    )
    broken = st.one_of(
        valid.map(lambda n: n[:17] + ("0" if n[17] != "0" else "1")),  # wrong check digit
        valid.map(lambda n: n[:17] + n[17].lower()),
        valid.map(lambda n: n[:10] + "13" + n[12:]),  # month 13
        valid.map(lambda n: n[:16]),
        valid.map(lambda n: "１" + n[1:]),  # a full-width digit
        st.text(max_size=20),
    )
    return st.one_of(valid, valid, broken)


def padded(value):
    return st.tuples(
        st.sampled_from(["", *WHITESPACE]), st.just(value), st.sampled_from(["", *WHITESPACE])
    ).map("".join)


def cell(strategy):
    return st.one_of(st.just(""), strategy.flatmap(padded), strategy)


DATES = st.one_of(
    st.dates(dt.date(1, 1, 1), dt.date(2100, 1, 1)).map(lambda d: d.isoformat()),
    st.dates(dt.date(1900, 1, 1), dt.date(2100, 1, 1)).map(lambda d: d.strftime("%Y/%m/%d")),
    st.dates(dt.date(1900, 1, 1), dt.date(2100, 1, 1)).map(lambda d: d.strftime("%Y%m%d")),
    st.sampled_from(["2030-13-41", "0000-01-01", "2020-02-30", "2020-1-5", "昨天"]),
)
AREAS = st.sampled_from(
    ["339902", "339902001", "339900", "330000", "330012", "339902000", "990000", "33990", "abc"]
)


def person_rows():
    return st.fixed_dictionaries(
        {
            "id_number": cell(id_numbers()),
            "name": cell(st.one_of(st.text(min_size=1, max_size=8), st.text(min_size=59, max_size=62))),
            "sex": cell(st.sampled_from(["M", "F", "男", "女", "1", "2", "X", "m"])),
            "birth_date": cell(DATES),
            "ethnicity": cell(st.sampled_from(["01", "1", "001", "٠١", "ab"])),
            "household_address": cell(st.text(max_size=12)),
            "area_code": cell(AREAS),
            "marital_status": cell(st.sampled_from(["10", "20", "2", "x0"])),
            "status": cell(st.sampled_from(["living", "deceased", "迁出", "dead"])),
            "phone": cell(st.text(alphabet="0123456789-", max_size=22)),
            "effective_from": cell(DATES),
        }
    )


def entity_rows():
    return st.fixed_dictionaries(
        {
            "uscc": cell(st.sampled_from(["91339900MA2XXXXX0X", "91110000100000000U", "123"])),
            "name": cell(st.text(min_size=1, max_size=10)),
            "legal_rep_id_number": cell(id_numbers()),
            "registered_capital": cell(
                st.sampled_from(["100", "007.50", "1e3", "-1", "NaN", "12.", "3.14159"])
            ),
            "established_on": cell(DATES),
            "area_code": cell(AREAS),
            "status": cell(st.sampled_from(["active", "注销", "closed"])),
        }
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(person_rows(), max_size=25), st.booleans())
def test_population_batches_match_parse_row(rows, duplicate):
    if duplicate and rows:
        rows = [*rows, dict(rows[0], name="重复的人")]  # the last row for a key wins, at the first's place
    good, rejected = columnar_result(RegistryKind.POPULATION, {}, rows)
    expected_good, expected_rejected = reference(RegistryKind.POPULATION, {}, rows)
    assert _plain(good) == _plain(expected_good)
    assert rejected == expected_rejected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(entity_rows(), max_size=15))
def test_legal_entity_batches_match_parse_row(rows):
    mapping = {"name": "名称"}
    rows = [{("名称" if k == "name" else k): v for k, v in r.items()} for r in rows]
    good, rejected = columnar_result(RegistryKind.LEGAL_ENTITY, mapping, rows)
    expected_good, expected_rejected = reference(RegistryKind.LEGAL_ENTITY, mapping, rows)
    assert _plain(good) == _plain(expected_good)
    assert rejected == expected_rejected


def test_a_clean_batch_is_decided_without_the_parser(monkeypatch):
    rows = [
        {
            "id_number": codes.make_resident_id("339902", dt.date(1980, 1, 1) + dt.timedelta(days=i), 11),
            "name": "王",
        }
        for i in range(50)
    ]
    calls = []
    monkeypatch.setattr(loader, "parse_row", lambda *a: calls.append(a))
    good, rejected = columnar_result(RegistryKind.POPULATION, {}, rows)
    assert len(good) == 50 and rejected == [] and calls == []


def test_python_whitespace_is_what_strip_removes():
    assert set(columnar.PY_WHITESPACE) == {chr(c) for c in range(0x110000) if chr(c).isspace()}


CSV_TEXT = st.text(alphabet=st.sampled_from([*list('ab 王,"\n\t'), "\u3000"]), max_size=6)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(CSV_TEXT, min_size=0, max_size=4), max_size=8), st.sampled_from(["\n", "\r\n"]))
def test_csv_rows_read_as_the_csv_module_reads_them(rows, terminator):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=terminator)
    writer.writerow(["h1", "h2", "h3"])
    writer.writerows(rows)
    text = out.getvalue()
    expected = [
        {k: ("" if v is None else v) for k, v in r.items() if k is not None}
        for r in csv.DictReader(io.StringIO(text))
    ]
    read = loader.read_rows("x.csv", text.encode())
    got = [{k: ("" if v is None else v) for k, v in r.items() if k is not None} for r in read]
    assert got == expected
