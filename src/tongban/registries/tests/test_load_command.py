"""The bulk-load command, from a CSV file and (PostgreSQL) from another database's table."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.db import connection

from tongban.core import codes
from tongban.identity.tests.factories import DepartmentFactory
from tongban.registries.models import PersonRecord, Registry, RegistryKind

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


def number(n):
    return codes.make_resident_id("339902", dt.date(1990, 1, 1) + dt.timedelta(days=n), 7)


def test_from_a_csv_file_with_a_mapping(population, tmp_path, capsys):
    path = tmp_path / "户籍.csv"
    path.write_text(f"证件号码,姓名\n{number(1)},甲\n{number(2)},乙\n123,丙\n", encoding="gb18030")
    call_command(
        "registry_load", "population", str(path), "--map", "id_number=证件号码", "--map", "name=姓名"
    )
    out = capsys.readouterr().out
    assert "2 accepted, 1 rejected" in out and "line 4" in out
    assert PersonRecord.objects.get(id_number=number(2)).source == "户籍.csv"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="reads another PostgreSQL database")
def test_from_another_databases_table(population, capsys):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE legacy_people (sfzh text, xm text)")
        cursor.execute("INSERT INTO legacy_people VALUES (%s, '丁'), (%s, '戊')", [number(3), number(4)])
    settings = connection.settings_dict
    url = f"postgresql://{settings['USER']}:{settings['PASSWORD']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
    try:
        call_command(
            "registry_load",
            "population",
            "--database-url",
            url,
            "--table",
            "legacy_people",
            "--map",
            "id_number=sfzh",
            "--map",
            "name=xm",
        )
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE legacy_people")
    assert "2 accepted, 0 rejected" in capsys.readouterr().out
    assert set(PersonRecord.objects.values_list("name", flat=True)) == {"丁", "戊"}
