"""The events trigger that wakes live streams (migration 0007), on a real PostgreSQL."""

import json
import uuid

import psycopg

LISTEN = "LISTEN jobtrail_events"
INSERT_TWO = """
INSERT INTO events (stream_id, version, type, data)
VALUES (%(first)s, 1, 'JobCreated', %(data)s::jsonb), (%(second)s, 1, 'JobCreated', %(data)s::jsonb)
"""
INSERT_ONE = (
    "INSERT INTO events (stream_id, version, type, data) VALUES (%(stream_id)s, 1, 'JobCreated', %(data)s::jsonb)"
)
INSERT_MANY = """
INSERT INTO events (stream_id, version, type, data)
SELECT gen_random_uuid(), 1, 'JobCreated', %(data)s::jsonb FROM generate_series(1, %(streams)s)
"""
DATA = json.dumps({"type": "JobCreated", "at": "2026-01-01T00:00:00Z", "owner": "o", "kind": "k", "max_runs": 1})


def payloads(listener: psycopg.Connection, count: int) -> list[str]:
    return [n.payload for n in listener.notifies(timeout=10, stop_after=count)]


def test_a_committed_statement_notifies_once_naming_its_streams_and_a_rolled_back_one_never(database_url):
    rolled_back, first, second = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(database_url, autocommit=True) as listener, psycopg.connect(database_url) as writer:
        listener.execute(LISTEN)
        writer.execute(INSERT_ONE, {"stream_id": rolled_back, "data": DATA})
        writer.rollback()
        writer.execute(INSERT_TWO, {"first": first, "second": second, "data": DATA})
        writer.commit()
        (payload,) = payloads(listener, 1)
    assert sorted(payload.split(",")) == sorted([str(first), str(second)])


def test_a_statement_writing_more_than_200_streams_notifies_with_an_empty_payload_meaning_any(database_url):
    with psycopg.connect(database_url, autocommit=True) as listener, psycopg.connect(database_url) as writer:
        listener.execute(LISTEN)
        writer.execute(INSERT_MANY, {"streams": 201, "data": DATA})
        writer.commit()
        writer.execute(INSERT_MANY, {"streams": 200, "data": DATA})
        writer.commit()
        many, most = payloads(listener, 2)
    assert many == "" and len(most.split(",")) == 200
