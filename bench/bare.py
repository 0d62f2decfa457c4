"""The bare baseline: one event row and one status row, the least an event store can do.

Shared by the benches that compare jobtrail against "append one event + upsert one row".
"""

CREATE_BARE_TABLES = """
CREATE TABLE bench_events (
    position   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id  uuid    NOT NULL,
    version    integer NOT NULL,
    type       text    NOT NULL,
    data       jsonb   NOT NULL,
    metadata   jsonb   NOT NULL,
    UNIQUE (stream_id, version)
);
CREATE TABLE bench_status (
    stream_id  uuid PRIMARY KEY,
    version    integer NOT NULL,
    status     text    NOT NULL,
    state      jsonb   NOT NULL
)
"""
INSERT_BARE_EVENT = """
INSERT INTO bench_events (stream_id, version, type, data, metadata)
VALUES (%(stream_id)s, %(version)s, %(type)s, %(data)s, %(metadata)s)
"""
UPSERT_BARE_STATUS = """
INSERT INTO bench_status (stream_id, version, status, state)
VALUES (%(stream_id)s, %(version)s, %(status)s, %(state)s)
ON CONFLICT (stream_id) DO UPDATE
   SET version = EXCLUDED.version, status = EXCLUDED.status, state = EXCLUDED.state
"""
