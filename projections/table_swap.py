"""Swap a table with its twin by renaming both, with their indexes and constraints.

A rename is a catalog update: instant, whatever the size of the tables, but it needs
an ACCESS EXCLUSIVE lock on both, which the caller takes (and keeps short). Twins are
named alike: every index and constraint of `job_status_shadow` is named like its
counterpart on `job_status`, with the table's name as the prefix. After the swap the
schema reads exactly as before, names included: only the rows have changed places.
The swap refuses tables that are not twins, and tables that other objects depend on
(a foreign key or a view follows a table's identity, not its name, so it would end
up on the wrong one).
"""

from typing import Any

import msgspec
from psycopg import AsyncConnection, sql

TABLE = """
SELECT c.relkind::text, c.relpersistence::text, coalesce(c.reloptions, '{}'), am.amname,
       c.relrowsecurity, c.relforcerowsecurity
  FROM pg_class c LEFT JOIN pg_am am ON am.oid = c.relam
 WHERE c.oid = %(table)s::regclass
"""
COLUMNS = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, a.attgenerated::text,
       a.attstorage::text, a.attcompression::text, a.attcollation::regcollation::text
  FROM pg_attribute a
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attrelid = %(table)s::regclass AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum
"""
CONSTRAINTS = """
SELECT conname, contype::text, pg_get_constraintdef(oid)
  FROM pg_constraint WHERE conrelid = %(table)s::regclass
 ORDER BY conname
"""
INDEXES = """
SELECT c.relname, pg_get_indexdef(i.indexrelid), coalesce(c.reloptions, '{}')
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = %(table)s::regclass
 ORDER BY c.relname
"""
TRIGGERS = """
SELECT tgname, pg_get_triggerdef(oid)
  FROM pg_trigger WHERE tgrelid = %(table)s::regclass AND NOT tgisinternal
 ORDER BY tgname
"""
DEPENDENTS = """
SELECT conrelid::regclass::text || ' (foreign key ' || conname || ')'
  FROM pg_constraint WHERE confrelid = %(table)s::regclass
UNION ALL
SELECT DISTINCT r.ev_class::regclass::text || ' (view)'
  FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
 WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = %(table)s::regclass
   AND r.ev_class <> %(table)s::regclass
 ORDER BY 1
"""
# What to rename: every constraint (one on an index renames its index too), and the
# indexes that back no constraint.
NAMED_OBJECTS = """
SELECT 'constraint', conname FROM pg_constraint WHERE conrelid = %(table)s::regclass
UNION ALL
SELECT 'index', c.relname
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = %(table)s::regclass
   AND NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid)
"""
PARTS = (TABLE, COLUMNS, CONSTRAINTS, INDEXES, TRIGGERS)  # in the order of Description's fields
RENAME_CONSTRAINT = "ALTER TABLE {table} RENAME CONSTRAINT {old} TO {new}"
RENAME_INDEX = "ALTER INDEX {old} RENAME TO {new}"
RENAME_TABLE = "ALTER TABLE {old} RENAME TO {new}"


class Description(msgspec.Struct, frozen=True):
    """What the catalog says of a table, as text rows; equal descriptions, equal tables."""

    table: list[tuple[Any, ...]]
    columns: list[tuple[Any, ...]]
    constraints: list[tuple[Any, ...]]
    indexes: list[tuple[Any, ...]]
    triggers: list[tuple[Any, ...]]

    def renamed(self, old: str, new: str) -> "Description":
        """The description with the name `old` written as `new` wherever it appears."""
        return msgspec.convert(_replace(msgspec.to_builtins(self), old, new), Description)


class NotTwins(Exception):
    """The tables differ in more than their names, or something depends on one of them."""


async def describe(conn: AsyncConnection, table: str) -> Description:
    """The catalog's account of `table`: what a migration decides about it, names included."""
    async with conn.pipeline():  # one round trip: the swap runs this under its lock
        cursors = [await conn.execute(query, {"table": table}) for query in PARTS]
    return Description(*[[tuple(row) for row in await cursor.fetchall()] for cursor in cursors])


async def swap(conn: AsyncConnection, table: str, twin: str) -> None:
    """Exchange the names of `table` and `twin`; call it holding both locks."""
    await check_twins(conn, table, twin)
    async with conn.pipeline():
        cursors = [await conn.execute(NAMED_OBJECTS, {"table": name}) for name in (table, twin)]
    mine, theirs = [await cursor.fetchall() for cursor in cursors]
    parked = f"{table}_swapping"
    statements = [
        *_renames(table, parked, mine),
        *_renames(twin, table, theirs),
        *_renames(parked, twin, [(kind, _moved(name, table, parked)) for kind, name in mine]),
    ]
    async with conn.pipeline():
        for statement in statements:
            await conn.execute(statement)


async def check_twins(conn: AsyncConnection, table: str, twin: str) -> None:
    """Raise NotTwins, naming the difference, unless a swap would leave the schema as it is."""
    mine, theirs = await describe(conn, table), (await describe(conn, twin)).renamed(twin, table)
    for field in Description.__struct_fields__:
        if getattr(mine, field) != getattr(theirs, field):
            raise NotTwins(f"{twin} differs from {table} in its {field}: a migration must change both alike")
    async with conn.pipeline():
        cursors = [await conn.execute(DEPENDENTS, {"table": name}) for name in (table, twin)]
    for name, cursor in zip((table, twin), cursors, strict=True):
        dependents = [row[0] for row in await cursor.fetchall()]
        if dependents:
            raise NotTwins(f"{name} cannot be swapped: {', '.join(dependents)} depend on it")


def _renames(old: str, new: str, objects: list[tuple[str, str]]) -> list[sql.Composed]:
    """The statements that give `old`, and whatever of its objects is named after it, `new`'s name."""
    statements = []
    for kind, name in objects:
        if not name.startswith(old):
            continue  # a constraint named alike on both tables (names are per table): it stays
        renamed = sql.Identifier(_moved(name, old, new))
        if kind == "constraint":
            statement = sql.SQL(RENAME_CONSTRAINT).format(
                table=sql.Identifier(old), old=sql.Identifier(name), new=renamed
            )
        else:
            statement = sql.SQL(RENAME_INDEX).format(old=sql.Identifier(name), new=renamed)
        statements.append(statement)
    statements.append(sql.SQL(RENAME_TABLE).format(old=sql.Identifier(old), new=sql.Identifier(new)))
    return statements


def _moved(name: str, old: str, new: str) -> str:
    return new + name.removeprefix(old) if name.startswith(old) else name


def _replace(value: object, old: str, new: str) -> object:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list | tuple):
        return [_replace(item, old, new) for item in value]
    if isinstance(value, dict):
        return {key: _replace(item, old, new) for key, item in value.items()}
    return value
