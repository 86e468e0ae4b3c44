"""Import/export: lossless round trips in JSON, YAML and Excel; broken files refused whole, row by row."""

import json

import pytest
from openpyxl import load_workbook

from tongban.catalog import transfer
from tongban.catalog.demo import catalogue
from tongban.catalog.models import LifeEvent, ServiceItem, ServiceItemVersion

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("fmt", ["json", "yaml", "xlsx"])
def test_round_trip_is_lossless(demo_catalogue, django_db_blocker, fmt):
    exported = transfer.export_catalogue()
    assert len(exported["items"]) == 66 and len(exported["life_events"]) == 5
    data, where = transfer.loads(transfer.dumps(exported, fmt), fmt)
    # Re-importing what was exported changes nothing...
    report = transfer.import_catalogue(data, where=where)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 66)
    # ...and exporting again gives the same catalogue.
    assert transfer.export_catalogue() == exported


def test_changed_row_makes_a_new_version(demo_catalogue):
    data = transfer.export_catalogue()
    data["items"][0]["version"]["committed_days"] = 1
    report = transfer.import_catalogue(data)
    assert (report.updated, report.unchanged) == (1, 65)
    item = ServiceItem.objects.get(
        basic_code=data["items"][0]["basic_code"], department__code=data["items"][0]["department"]
    )
    assert item.published_version.number == 2 and item.published_version.committed_days == 1
    assert ServiceItemVersion.objects.filter(item=item, status="superseded").count() == 1


def test_broken_rows_are_all_reported_and_nothing_is_saved(demo_catalogue):
    data = catalogue()
    before = ServiceItemVersion.objects.count()
    data["items"][3]["department"] = "ljs-nowhere"
    data["items"][5]["version"]["form_schema"] = {"type": "object", "properties": {"a": {"type": 5}}}
    data["items"][7]["version"]["committed_days"] = 999
    data["items"][8]["basic_code"] = "01ABC"
    with pytest.raises(transfer.ImportRefused) as err:
        transfer.import_catalogue(data)
    where = [e.where for e in err.value.errors]
    assert list(dict.fromkeys(w.split("（")[0] for w in where)) == [
        "items[3]",
        "items[5]",
        "items[7]",
        "items[8]",
    ]
    assert "ljs-nowhere" in str(err.value)
    assert ServiceItemVersion.objects.count() == before


def test_excel_errors_name_the_line(demo_catalogue):
    content = transfer.dumps(transfer.export_catalogue(), "xlsx")
    import io

    wb = load_workbook(io.BytesIO(content))
    sheet = wb["items"]
    header = [c.value for c in sheet[1]]
    sheet.cell(row=4, column=header.index("workflow") + 1, value="{not json")
    sheet.cell(row=9, column=header.index("department") + 1, value="nobody")
    buffer = io.BytesIO()
    wb.save(buffer)
    with pytest.raises(transfer.ImportRefused) as err:
        transfer.loads(buffer.getvalue(), "xlsx")
    assert "items 第4行" in str(err.value) and "workflow" in str(err.value)
    sheet.cell(row=4, column=header.index("workflow") + 1, value=json.dumps({"steps": []}))
    buffer = io.BytesIO()
    wb.save(buffer)
    data, where = transfer.loads(buffer.getvalue(), "xlsx")
    with pytest.raises(transfer.ImportRefused) as err:
        transfer.import_catalogue(data, where=where)
    message = str(err.value)
    assert "items 第4行" in message and "items 第9行" in message and "nobody" in message


@pytest.mark.parametrize(
    ("content", "fmt", "words"),
    [
        (b"{not json", "json", "无法解析"),
        (b"- : :", "yaml", "无法解析"),
        (b"PK\x03\x04garbage", "xlsx", "Excel"),
        (b'{"format": "other"}', "json", "format"),
        (b"[1, 2]", "json", "format"),
    ],
)
def test_malformed_files(content, fmt, words):
    before = (ServiceItem.objects.count(), LifeEvent.objects.count())
    with pytest.raises(transfer.ImportRefused) as err:
        data, where = transfer.loads(content, fmt)
        transfer.import_catalogue(data, where=where)
    assert words in str(err.value)
    assert (ServiceItem.objects.count(), LifeEvent.objects.count()) == before
