"""The full-text index over SearchDocument, in each database's own engine.

SQLite: an FTS5 external-content table over (tokens, pinyin), kept in sync by triggers.
PostgreSQL: a generated tsvector column ('simple' configuration: the text is already segmented) + GIN index.
"""

from django.db import migrations

SQLITE_UP = [
    "CREATE VIRTUAL TABLE catalog_search_fts USING fts5(tokens, pinyin, content='catalog_searchdocument', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 0')",
    "CREATE TRIGGER catalog_search_ai AFTER INSERT ON catalog_searchdocument BEGIN "
    "INSERT INTO catalog_search_fts(rowid, tokens, pinyin) VALUES (new.id, new.tokens, new.pinyin); END",
    "CREATE TRIGGER catalog_search_ad AFTER DELETE ON catalog_searchdocument BEGIN "
    "INSERT INTO catalog_search_fts(catalog_search_fts, rowid, tokens, pinyin) "
    "VALUES ('delete', old.id, old.tokens, old.pinyin); END",
    "CREATE TRIGGER catalog_search_au AFTER UPDATE ON catalog_searchdocument BEGIN "
    "INSERT INTO catalog_search_fts(catalog_search_fts, rowid, tokens, pinyin) "
    "VALUES ('delete', old.id, old.tokens, old.pinyin); "
    "INSERT INTO catalog_search_fts(rowid, tokens, pinyin) VALUES (new.id, new.tokens, new.pinyin); END",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS catalog_search_au",
    "DROP TRIGGER IF EXISTS catalog_search_ad",
    "DROP TRIGGER IF EXISTS catalog_search_ai",
    "DROP TABLE IF EXISTS catalog_search_fts",
]
POSTGRES_UP = [
    "ALTER TABLE catalog_searchdocument ADD COLUMN search_vector tsvector GENERATED ALWAYS AS "
    "(setweight(to_tsvector('simple', tokens), 'A') || setweight(to_tsvector('simple', pinyin), 'B')) STORED",
    "CREATE INDEX catalog_searchdocument_fts ON catalog_searchdocument USING gin (search_vector)",
]
POSTGRES_DOWN = [
    "DROP INDEX IF EXISTS catalog_searchdocument_fts",
    "ALTER TABLE catalog_searchdocument DROP COLUMN IF EXISTS search_vector",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]
    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_UP, "postgresql": POSTGRES_UP}),
            _run({"sqlite": SQLITE_DOWN, "postgresql": POSTGRES_DOWN}),
        )
    ]
