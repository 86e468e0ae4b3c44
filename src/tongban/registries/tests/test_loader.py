"""Bulk load: validation per field, rejected rows with line and reason, upserts with history, batches that
are all-or-nothing and resumable, CSV/JSON/Excel sources; on both databases (COPY on PostgreSQL)."""

import datetime as dt
import io
import json

import pytest
from openpyxl import Workbook

from tongban.core import codes
from tongban.identity.tests.factories import DepartmentFactory
from tongban.registries import loader
from tongban.registries.models import LoadJob, PersonRecord, RecordChange, Registry, RegistryKind

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def population():
    return Registry.objects.create(
        code="population",
        name="人口库",
        kind=RegistryKind.POPULATION,
        owner=DepartmentFactory(),
        key_field="id_number",
    )


def person(n, **extra):
    number = codes.make_resident_id("339902", dt.date(1980, 1, 1) + dt.timedelta(days=n), n % 999 + 1)
    return {
        "身份证号": number,
        "姓名": f"居民{n}",
        "性别": "女" if n % 2 else "男",
        "出生日期": "1980-01-01",
        **extra,
    }


MAPPING = {
    "id_number": "身份证号",
    "name": "姓名",
    "sex": "性别",
    "birth_date": "出生日期",
    "area_code": "区划",
}


def test_valid_rows_load_and_bad_rows_are_reported(population):
    rows = [person(i, 区划="339902") for i in range(10)]
    rows[3]["身份证号"] = rows[3]["身份证号"][:-1] + ("0" if rows[3]["身份证号"][-1] != "0" else "1")
    rows[5]["姓名"] = ""
    rows[7]["区划"] = "99999"
    rows[8]["出生日期"] = "1980-02-30"
    report = loader.load(population, rows, source="户籍系统导出 2026-11", mapping=MAPPING, batch_size=4)
    assert report.accepted == 6 and report.rejected == 4
    reasons = dict(report.job.rejections)
    assert "校验" in reasons[5] and "身份证号" in reasons[5]  # line 5 = row index 3 (+ header)
    assert "“姓名”不能为空" in reasons[7] and "区划" in reasons[9] and "日期" in reasons[10]
    assert PersonRecord.objects.count() == 6 and report.job.status == LoadJob.DONE
    stored = PersonRecord.objects.get(id_number=rows[0]["身份证号"])
    assert stored.sex == "M" and stored.status == "living" and stored.source == "户籍系统导出 2026-11"


def test_updates_keep_history_and_unchanged_rows_write_none(population):
    rows = [person(i) for i in range(5)]
    loader.load(population, rows, source="首次导入", mapping=MAPPING)
    assert not RecordChange.objects.exists()
    rows[1]["姓名"] = "改名后"
    report = loader.load(population, rows, source="增量同步", mapping=MAPPING)
    assert report.accepted == 5
    change = RecordChange.objects.get()
    assert change.key == rows[1]["身份证号"] and change.changes == {"name": ["居民1", "改名后"]}
    assert change.source == "增量同步" and change.load == report.job
    assert PersonRecord.objects.get(id_number=rows[1]["身份证号"]).name == "改名后"


def test_an_interrupted_load_resumes_without_applying_a_batch_twice(population):
    rows = [person(i) for i in range(10)]

    def failing():
        for i, row in enumerate(rows):
            if i == 7:
                raise OSError("connection to the source lost")
            yield row

    job = LoadJob.objects.create(registry=population, source="断点续传", mapping=MAPPING, batch_size=3)
    with pytest.raises(OSError):
        loader.resume(job, failing())
    job.refresh_from_db()
    assert job.batches_done == 2 and PersonRecord.objects.count() == 6  # the third batch never showed
    loader.resume(job, rows)
    job.refresh_from_db()
    assert job.batches_done == 4 and job.accepted == 10 and PersonRecord.objects.count() == 10


def test_sources_csv_json_and_excel():
    rows = [person(i) for i in range(3)]
    text = "身份证号,姓名,性别,出生日期\n" + "\n".join(
        f"{r['身份证号']},{r['姓名']},{r['性别']},{r['出生日期']}" for r in rows
    )
    assert [r["姓名"] for r in loader.read_rows("a.csv", text.encode("gb18030"))] == [
        "居民0",
        "居民1",
        "居民2",
    ]
    assert list(loader.read_rows("a.json", json.dumps(rows, ensure_ascii=False).encode()))[2] == rows[2]
    book = Workbook()
    sheet = book.active
    sheet.append(list(rows[0]))
    for r in rows:
        sheet.append(list(r.values()))
    buffer = io.BytesIO()
    book.save(buffer)
    assert [r["身份证号"] for r in loader.read_rows("a.xlsx", buffer.getvalue())] == [
        r["身份证号"] for r in rows
    ]


def test_legal_entities(population):
    entities = Registry.objects.create(
        code="legal-entity",
        name="法人库",
        kind=RegistryKind.LEGAL_ENTITY,
        owner=population.owner,
        key_field="uscc",
    )
    uscc = codes.make_uscc("9", "1", "339902", "MA2ABCD0")
    report = loader.load(
        entities,
        [
            {"uscc": uscc, "name": "临江味道餐饮有限公司", "registered_capital": "100.5", "status": "存续"},
            {"uscc": uscc[:-1] + "0" if uscc[-1] != "0" else uscc[:-1] + "1", "name": "坏代码"},
            {
                "uscc": codes.make_uscc("9", "1", "339902", "MA2ABCD1"),
                "name": "负资本",
                "registered_capital": "-1",
            },
        ],
        source="市场监管",
    )
    assert report.accepted == 1 and report.rejected == 2
    again = loader.load(
        entities,
        [{"uscc": uscc, "name": "临江味道餐饮有限公司", "registered_capital": "100.50"}],
        source="同步",
    )
    assert again.accepted == 1 and not RecordChange.objects.exists()  # 100.5 == 100.50: no change recorded
