"""`tongban registry_load REGISTRY (FILE | --database-url URL --table TABLE) [--map field=column …]`:
bulk-load a registry from a CSV/Excel/JSON file or from another database's table, and print the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Bulk-load a base registry from a file (CSV, Excel, JSON) or from a table of another database."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("registry", help="registry code, e.g. population")
        parser.add_argument("file", nargs="?", help="CSV (UTF-8 or GB 18030), .xlsx or .json/.jsonl")
        parser.add_argument("--database-url", help="read from this PostgreSQL database instead of a file")
        parser.add_argument("--table", help="with --database-url: the table (or view) to read")
        parser.add_argument(
            "--map", action="append", default=[], help="registry_field=source_column (repeatable)"
        )
        parser.add_argument("--source", default="", help="what the history records as the source")
        parser.add_argument("--batch-size", type=int, default=50_000)

    def handle(self, *args: Any, **options: Any) -> None:
        from tongban.registries import loader, services
        from tongban.registries.models import Registry

        registry = Registry.objects.filter(code=options["registry"]).first()
        if registry is None:
            raise CommandError(f"unknown registry {options['registry']}")
        mapping = dict(item.split("=", 1) for item in options["map"] if "=" in item)
        if options["database_url"]:
            if not options["table"] or not options["table"].replace("_", "").replace(".", "").isalnum():
                raise CommandError("--table must name a table or view")
            rows = _table_rows(options["database_url"], options["table"])
            source = options["source"] or f"{options['table']}@{options['database_url'].rsplit('@', 1)[-1]}"
        elif options["file"]:
            path = Path(options["file"])
            rows = loader.read_rows(path.name, path.read_bytes())
            source = options["source"] or path.name
        else:
            raise CommandError("give a FILE or --database-url with --table")
        try:
            report = services.registry_load(
                acting_user=None,  # the operator at the command line
                registry=registry,
                rows=rows,
                source=source,
                mapping=mapping,
                batch_size=options["batch_size"],
            )
        except services.AccessError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"{report.accepted:,} accepted, {report.rejected:,} rejected (job {report.job.pk})")
        for line, reason in report.job.rejections[:20]:
            self.stdout.write(f"  line {line}: {reason}")


def _table_rows(url: str, table: str) -> Any:
    """Rows of another database's table as dicts, streamed with a server-side cursor."""
    import psycopg
    from psycopg import sql
    from psycopg.rows import dict_row

    with (
        psycopg.connect(url, row_factory=dict_row) as connection,
        connection.cursor(name="tongban_load") as cursor,
    ):
        cursor.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(*table.split("."))))
        for row in cursor:
            yield {k: "" if v is None else str(v) for k, v in row.items()}
