-- The append-only event log. Every job is one stream; `version` orders a stream,
-- `position` orders the log, `transaction_id` makes catch-up reads gap-safe.

CREATE TABLE events (
    position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id       uuid        NOT NULL,
    version         integer     NOT NULL CHECK (version > 0),
    type            text        NOT NULL,
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL DEFAULT '{}',
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    prev_hash       bytea,
    hash            bytea       NOT NULL,
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, version)
);

-- Catch-up readers scan in commit-safe order: (transaction_id, position).
CREATE INDEX events_transaction_order ON events (transaction_id, position);

-- The canonical text an event's hash covers: a JSON array of its stored fields.
-- jsonb prints deterministically, so verifiers outside the database can rebuild it
-- byte for byte from an export.
CREATE FUNCTION event_canonical(
    stream_id uuid, version integer, type text, data jsonb, metadata jsonb, recorded_at timestamptz
) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_array(
        stream_id::text, version, type, data, metadata,
        to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    )::text
$$;

-- hash = sha256(prev_hash || canonical), chained per stream. The database computes it,
-- so no writer can forget or forge it, and refuses a version that skips one.
CREATE FUNCTION events_chain() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.version > 1 THEN
        SELECT e.hash INTO NEW.prev_hash
          FROM events e
         WHERE e.stream_id = NEW.stream_id AND e.version = NEW.version - 1;
        IF NEW.prev_hash IS NULL THEN
            RAISE EXCEPTION 'event % of stream % has no predecessor', NEW.version, NEW.stream_id
                USING ERRCODE = 'integrity_constraint_violation',
                      CONSTRAINT = 'events_version_gap';
        END IF;
    ELSE
        NEW.prev_hash := NULL;
    END IF;
    NEW.hash := sha256(
        coalesce(NEW.prev_hash, ''::bytea) || convert_to(
            event_canonical(NEW.stream_id, NEW.version, NEW.type, NEW.data, NEW.metadata, NEW.recorded_at),
            'UTF8'
        )
    );
    RETURN NEW;
END
$$;

CREATE TRIGGER events_chain BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_chain();

-- History is never edited.
CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: % is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER events_immutable BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();
