"""The two dialects' migrations build the same schema.

``test_migrate.py`` only checks that both dialects have the same migration file names; here both
databases are migrated from scratch and then introspected (SQLite: ``sqlite_master`` and the
``table_list`` / ``table_info`` / ``index_list`` / ``index_info`` pragmas; PostgreSQL:
``information_schema`` and ``pg_index``), and every table is rendered as the same plain text in
both dialects: its columns with a type class and nullability, its primary key, its unique column
sets and its indexes by their columns. A difference fails with a unified diff of the two
renderings.

The type vocabulary (``integer``, ``text``, ``real``, ``blob``, ``boolean``, ``numeric``) is where
the dialects' deliberate differences are made equal, each with the reason beside it; there is no
ignore list. A type outside it renders as ``unmapped:<type>``, so a new kind of column fails here
until its counterpart in the other dialect is decided and written down.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import pytest

from persistence import migrate as migrate_module
from persistence.db import Database, IntegrityViolation
from persistence.factory import open_database
from persistence.migrate import migrate, migration_files


def sqlite_type_class(declared: str) -> str:
    """The class of a SQLite column from its declared type.

    SQLite keeps the declared type verbatim and gives the column an affinity by the rules of
    https://www.sqlite.org/datatype3.html section 3.1 (in that order: INT, then CHAR/CLOB/TEXT, then
    BLOB or nothing, then REAL/FLOA/DOUB, else NUMERIC); the class follows the affinity, so
    ``BIGINT`` and ``INTEGER`` are both ``integer`` just as PostgreSQL's ``bigint`` and ``integer``
    are.
    """
    upper = declared.upper()
    # SQLite has no boolean type: a column declared BOOLEAN has NUMERIC affinity and stores 0/1.
    # It is the counterpart of a PostgreSQL boolean; checked before the affinity rules, which
    # would call it numeric.
    if upper.startswith("BOOL"):
        return "boolean"
    if "INT" in upper:
        return "integer"
    if any(word in upper for word in ("CHAR", "CLOB", "TEXT")):
        return "text"
    if upper == "" or "BLOB" in upper:
        return "blob"
    if any(word in upper for word in ("REAL", "FLOA", "DOUB")):
        return "real"
    return "numeric"


#: PostgreSQL's ``information_schema.columns.data_type`` values and their class. Integer widths are
#: one class: SQLite stores every integer in up to 8 bytes whatever its declared width.
_POSTGRES_TYPE_CLASSES = {
    "smallint": "integer",
    "integer": "integer",
    "bigint": "integer",
    "text": "text",
    "character varying": "text",
    "character": "text",
    "real": "real",
    "double precision": "real",
    "numeric": "numeric",
    # SQLite's BLOB holds the same bytes that bytea does.
    "bytea": "blob",
    "boolean": "boolean",
}


def postgres_type_class(data_type: str) -> str:
    return _POSTGRES_TYPE_CLASSES.get(data_type, f"unmapped:{data_type}")


@dataclass
class Table:
    columns: dict[str, tuple[str, bool]] = field(default_factory=dict)  # name -> (class, nullable)
    primary_key: tuple[str, ...] = ()
    unique: set[str] = field(default_factory=set)  # "(a, b)", constraints and unique indexes
    indexes: set[str] = field(default_factory=set)  # "(a, b)" or "(a, b) WHERE …", non-unique

    def lines(self, name: str) -> list[str]:
        """One line per fact, each naming its table, so that any line of a diff reads alone."""
        out = [f"{name}: table"]
        for column, (type_class, nullable) in sorted(self.columns.items()):
            out.append(f"{name}.{column}: {type_class} {'null' if nullable else 'not null'}")
        out.append(f"{name}: primary key {_columns(self.primary_key)}")
        out += [f"{name}: unique {columns}" for columns in sorted(self.unique)]
        out += [f"{name}: index {columns}" for columns in sorted(self.indexes)]
        return out


def _columns(names: tuple[str, ...] | list[str], partial: bool = False) -> str:
    return "(" + ", ".join(names) + ")" + (" WHERE …" if partial else "")


def render(schema: dict[str, Table]) -> list[str]:
    return [line for name in sorted(schema) for line in schema[name].lines(name)]


async def sqlite_schema(db: Database) -> dict[str, Table]:
    schema: dict[str, Table] = {}
    tables = await db.fetch(
        "SELECT m.name, l.wr FROM sqlite_master m"
        " JOIN pragma_table_list l ON l.schema = 'main' AND l.name = m.name"  # wr: WITHOUT ROWID
        " WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'"
    )
    for table_row in tables:
        name = str(table_row["name"])
        table = schema[name] = Table()
        without_rowid = bool(table_row["wr"])
        columns = await db.fetch("SELECT * FROM pragma_table_info($1)", name)
        pk = sorted((int(c["pk"]), str(c["name"])) for c in columns if int(c["pk"]) > 0)
        table.primary_key = tuple(column for _, column in pk)
        for column in columns:
            declared = str(column["type"])
            nullable = not column["notnull"]
            # A rowid table's single INTEGER PRIMARY KEY is the rowid itself: it can never be
            # NULL (inserting NULL assigns the next rowid), though table_info reports notnull 0.
            # It is the counterpart of PostgreSQL's identity primary key.
            rowid_alias = (
                not without_rowid and table.primary_key == (column["name"],)
            ) and declared.upper() == "INTEGER"
            # A WITHOUT ROWID table enforces NOT NULL on its primary key columns.
            if rowid_alias or (without_rowid and column["pk"]):
                nullable = False
            table.columns[str(column["name"])] = (sqlite_type_class(declared), nullable)
        for index in await db.fetch("SELECT * FROM pragma_index_list($1)", name):
            if index["origin"] == "pk":  # the primary key's own index (compared above)
                continue
            info = await db.fetch("SELECT * FROM pragma_index_info($1)", index["name"])
            names = [
                str(i["name"]) if i["name"] is not None else "<expression>"
                for i in sorted(info, key=lambda i: int(i["seqno"]))
            ]
            rendered = _columns(names, partial=bool(index["partial"]))
            (table.unique if index["unique"] else table.indexes).add(rendered)
    return schema


async def postgres_schema(db: Database) -> dict[str, Table]:
    schema: dict[str, Table] = {}
    tables = await db.fetch(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
    )
    for table_row in tables:
        schema[str(table_row["table_name"])] = Table()
    for column in await db.fetch(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns"
        " WHERE table_schema = current_schema()"
    ):
        table = schema.get(str(column["table_name"]))
        if table is not None:  # not a view's column
            table.columns[str(column["column_name"])] = (
                postgres_type_class(str(column["data_type"])),
                column["is_nullable"] == "YES",
            )
    constraints = await db.fetch(
        "SELECT tc.table_name, tc.constraint_name, tc.constraint_type,"
        "       array_agg(kcu.column_name::text ORDER BY kcu.ordinal_position) AS columns"
        " FROM information_schema.table_constraints tc"
        " JOIN information_schema.key_column_usage kcu"
        "   ON kcu.constraint_schema = tc.constraint_schema"
        "  AND kcu.constraint_name = tc.constraint_name"
        "  AND kcu.table_name = tc.table_name"
        " WHERE tc.table_schema = current_schema()"
        "   AND tc.constraint_type IN ('PRIMARY KEY', 'UNIQUE')"
        " GROUP BY tc.table_name, tc.constraint_name, tc.constraint_type"
    )
    for constraint in constraints:
        table = schema[str(constraint["table_name"])]
        columns = tuple(str(c) for c in constraint["columns"])
        if constraint["constraint_type"] == "PRIMARY KEY":
            table.primary_key = columns
        else:
            table.unique.add(_columns(columns))
    # Every index, including those backing the constraints above (a unique constraint's index
    # lands in the same set as the constraint, as in SQLite); attnum 0 is an expression.
    indexes = await db.fetch(
        "SELECT t.relname AS table_name, i.indisunique, i.indisprimary,"
        "       i.indpred IS NOT NULL AS partial,"
        "       array_agg(coalesce(a.attname::text, '<expression>') ORDER BY k.ord) AS columns"
        " FROM pg_index i"
        " JOIN pg_class t ON t.oid = i.indrelid"
        " JOIN pg_namespace n ON n.oid = t.relnamespace"
        " CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)"
        " LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum"
        " WHERE n.nspname = current_schema()"
        "   AND k.ord <= i.indnkeyatts"  # not the INCLUDE columns
        " GROUP BY t.relname, i.indexrelid, i.indisunique, i.indisprimary, i.indpred"
    )
    for index in indexes:
        if index["indisprimary"]:
            continue
        table = schema[str(index["table_name"])]
        rendered = _columns([str(c) for c in index["columns"]], partial=bool(index["partial"]))
        (table.unique if index["indisunique"] else table.indexes).add(rendered)
    return schema


async def _introspect(url: str, dialect: str) -> dict[str, Table]:
    await migrate(url)
    db = await open_database(url)
    try:
        return await (sqlite_schema(db) if dialect == "sqlite" else postgres_schema(db))
    finally:
        await db.close()


def schema_diff(sqlite: dict[str, Table], postgres: dict[str, Table]) -> str:
    """A unified diff of the two renderings; empty when the schemas agree."""
    return "\n".join(
        difflib.unified_diff(
            render(sqlite), render(postgres), "sqlite", "postgres", lineterm="", n=1
        )
    )


@pytest.mark.postgres
async def test_both_dialects_build_the_same_schema(
    sqlite_url: str, postgres_schema_url: str
) -> None:
    sqlite = await _introspect(sqlite_url, "sqlite")
    postgres = await _introspect(postgres_schema_url, "postgres")
    diff = schema_diff(sqlite, postgres)
    if diff:  # pytest.fail: the diff alone, not repeated inside an assertion's repr
        pytest.fail(f"the migrations build different schemas:\n{diff}", pytrace=False)
    # The introspection saw the schema at all (an empty rendering on both sides would agree).
    assert {"messages", "users", "polls", "audit_log", "timer_jobs", "schema_migrations"} <= set(
        sqlite
    )
    assert sqlite["units"].unique == {"(building_id, label_key)"}
    assert sqlite["messages"].primary_key == ("channel", "offset")


def test_a_missing_column_shows_in_the_diff() -> None:
    """The comparison itself: a column on one side only is named in the diff."""
    both = Table(columns={"id": ("integer", False)}, primary_key=("id",))
    fewer = Table(columns={}, primary_key=("id",))
    diff = schema_diff({"t": both}, {"t": fewer})
    assert "-t.id: integer not null" in diff.splitlines()
    assert schema_diff({"t": both}, {"t": both}) == ""


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("INTEGER", "integer"),
        ("BIGINT", "integer"),
        ("TEXT", "text"),
        ("VARCHAR(20)", "text"),
        ("BLOB", "blob"),
        ("", "blob"),
        ("REAL", "real"),
        ("DOUBLE PRECISION", "real"),
        ("BOOLEAN", "boolean"),
        ("NUMERIC", "numeric"),
    ],
)
def test_sqlite_type_classes(declared: str, expected: str) -> None:
    assert sqlite_type_class(declared) == expected


async def test_0009_keeps_the_rows_of_the_tables_it_rebuilds(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An installed SQLite database, migrated up to 0008 and holding rows, keeps every row when
    0009 rebuilds its tables; group_members, which refers to a rebuilt table with ON DELETE
    CASCADE, keeps its rows too. Afterwards a NULL key is refused."""
    before = [entry for entry in migration_files("sqlite") if entry[0] < "0009"]
    monkeypatch.setattr(migrate_module, "migration_files", lambda dialect: before)
    await migrate(sqlite_url)
    db = await open_database(sqlite_url)
    try:
        await db.executescript(
            "INSERT INTO buildings (id, name, created_at) VALUES (1, 'Harbour View', 1);\n"
            "INSERT INTO users (id, username, username_lower, display_name, role, building_id,"
            " password_hash, created_at) VALUES (7, 'Mei', 'mei', 'Mei', 'resident', 1, 'h', 1);\n"
            "INSERT INTO invites VALUES ('INV1', 1, 3, 99, 1);\n"
            "INSERT INTO sessions VALUES ('tok', 7, 99, 1);\n"
            "INSERT INTO groups VALUES ('garden', 'Garden', '', 7, 1);\n"
            "INSERT INTO group_members VALUES (7, 'garden', 2);\n"
            "INSERT INTO mod_settings VALUES ('auto_hide_flags', '3');\n"
            "INSERT INTO mod_rules VALUES ('en', 'Be kind', 7, 1);\n"
        )
    finally:
        await db.close()
    monkeypatch.undo()

    # 0009 and whatever later migrations exist, 0009 first.
    applied = await migrate(sqlite_url)
    assert applied == [v for v, _ in migration_files("sqlite") if v >= "0009"]
    assert applied[0] == "0009_schema_parity"
    db = await open_database(sqlite_url)
    try:
        tables = ["invites", "sessions", "groups", "group_members", "mod_settings", "mod_rules"]
        counts = {table: await db.fetchval(f"SELECT count(*) FROM {table}") for table in tables}
        assert counts == dict.fromkeys(tables, 1)
        versions = await db.fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [row[0] for row in versions] == [v for v, _ in migration_files("sqlite")]
        assert await db.fetch("PRAGMA foreign_key_check") == []
        assert await db.fetchval("PRAGMA foreign_keys") == 1  # the runner turned them back on
        with pytest.raises(IntegrityViolation, match="NOT NULL"):
            await db.execute("INSERT INTO mod_settings (key, value) VALUES (NULL, 'x')")
        # The rebuilt groups is the parent of group_members again: deleting cascades.
        await db.execute("DELETE FROM groups WHERE slug = 'garden'")
        assert await db.fetchval("SELECT count(*) FROM group_members") == 0
    finally:
        await db.close()
