"""The status row is written by literal SQL in three places; they must agree with the table."""

import re

import pytest

from projections import job_status
from projections.job_status import COPY_STATUS, LIVE_ROWS
from service.store.event_store import APPEND


def _names(sql_list: str) -> list[str]:
    return [re.sub(r"::\w+$", "", part.strip()) for part in sql_list.split(",")]


def test_the_append_inserts_and_updates_every_status_column_in_order():
    inserted = re.search(r"INSERT INTO job_status \((.*?)\)", APPEND, re.S)
    values = re.search(r"SELECT\n(.*?)\n\s+FROM head", APPEND, re.S)
    updated = re.findall(r"(\w+) = EXCLUDED\.\1", APPEND)
    assert inserted and values
    assert _names(inserted.group(1)) == list(job_status.COLUMNS)
    assert [re.fullmatch(r"%\((\w+)\)s", v).group(1) for v in _names(values.group(1))] == list(job_status.COLUMNS)
    assert updated == list(job_status.COLUMNS[1:])


def test_rebuild_and_drift_use_the_same_columns_in_the_same_order():
    copied = re.search(r"COPY \{table\} \((.*?)\)", COPY_STATUS, re.S)
    selected = re.search(r"SELECT\n(.*?)\n\s+FROM job_status", LIVE_ROWS, re.S)
    assert copied and selected
    assert _names(copied.group(1)) == list(job_status.COLUMNS)
    assert _names(selected.group(1)) == list(job_status.COLUMNS)


@pytest.mark.anyio
async def test_the_table_has_exactly_the_projected_columns_and_types(pool):
    query = """
        SELECT column_name, format_type(atttypid, atttypmod)
          FROM information_schema.columns c
          JOIN pg_attribute a ON a.attrelid = 'job_status'::regclass AND a.attname = c.column_name
         WHERE c.table_name = 'job_status' ORDER BY c.ordinal_position
    """
    async with pool.connection() as conn:
        rows = await (await conn.execute(query)).fetchall()
    aliases = {"float8": "double precision", "timestamptz": "timestamp with time zone"}
    expected = [(name, aliases.get(sql_type, sql_type)) for name, sql_type in job_status.TYPES.items()]
    assert rows == expected
