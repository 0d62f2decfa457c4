-- Retention: a finished job's history leaves the database only into an archive file, and
-- only with a tombstone that says what it was, where it went and that it was removed.
--
-- A tombstone is written in the same transaction as the deletion, and the deletion is
-- `archive_stream(stream_id)`, which refuses a stream without such a tombstone, a
-- tombstone that does not describe the stream as it stands (event count, last position,
-- chain head), and a job that is still active. The log's triggers refuse every other
-- UPDATE, DELETE and TRUNCATE, as before.
--
-- A stream may be archived more than once (archived, restored for an investigation,
-- archived again), so tombstones have an id of their own; they are never edited.
CREATE TABLE tombstones (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id        uuid        NOT NULL,
    owner            text        NOT NULL,
    kind             text        NOT NULL,
    status           text        NOT NULL,  -- the job's final status when it was archived
    events           integer     NOT NULL CHECK (events > 0),
    first_position   bigint      NOT NULL,
    last_position    bigint      NOT NULL,
    chain_head       bytea       NOT NULL,  -- the hash of the stream's last event
    archive_name     text        NOT NULL,  -- the file's name in the archive store
    archive_sha256   bytea       NOT NULL,  -- of the file's bytes
    finished_at      timestamptz,
    archived_at      timestamptz NOT NULL DEFAULT now(),
    transaction_id   xid8        NOT NULL DEFAULT pg_current_xact_id()
);

CREATE INDEX tombstones_stream ON tombstones (stream_id, id DESC);
CREATE INDEX tombstones_owner_archived ON tombstones (owner, archived_at);

CREATE FUNCTION tombstones_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'tombstones are append-only: % is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER tombstones_immutable BEFORE UPDATE OR DELETE ON tombstones
    FOR EACH ROW EXECUTE FUNCTION tombstones_refuse_change();
CREATE TRIGGER tombstones_no_truncate BEFORE TRUNCATE ON tombstones
    FOR EACH STATEMENT EXECUTE FUNCTION tombstones_refuse_change();

-- The log's DELETE guard: a row may go only while archive_stream() is deleting its
-- stream (a transaction-local setting names it) and that stream's tombstone was written
-- in this very transaction. UPDATE and TRUNCATE stay refused (0001's triggers).
CREATE FUNCTION events_refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('jobtrail.archiving', true) = OLD.stream_id::text AND EXISTS (
        SELECT 1 FROM tombstones t
         WHERE t.stream_id = OLD.stream_id AND t.transaction_id = pg_current_xact_id()
    ) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'events are append-only: DELETE is refused (only archive_stream() removes an archived stream)'
        USING ERRCODE = 'insufficient_privilege';
END
$$;

DROP TRIGGER events_immutable ON events;
CREATE TRIGGER events_immutable BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER events_delete_archived BEFORE DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_delete();

-- Remove an archived job: its events and every row kept for it (status, its shadow,
-- stats, batch results, inbox, outbox). Returns the number of events removed.
CREATE FUNCTION archive_stream(p_stream_id uuid) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    stone     tombstones%ROWTYPE;
    live      record;
    removed   integer;
BEGIN
    SELECT * INTO stone FROM tombstones
     WHERE stream_id = p_stream_id AND transaction_id = pg_current_xact_id()
     ORDER BY id DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'stream % has no tombstone written in this transaction', p_stream_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    SELECT count(*) AS events, min(position) AS first_position, max(position) AS last_position,
           (SELECT e.hash FROM events e WHERE e.stream_id = p_stream_id ORDER BY e.version DESC LIMIT 1) AS head
      INTO live
      FROM events WHERE stream_id = p_stream_id;
    IF live.events <> stone.events OR live.first_position <> stone.first_position
       OR live.last_position <> stone.last_position OR live.head IS DISTINCT FROM stone.chain_head THEN
        RAISE EXCEPTION 'the tombstone of stream % does not describe it (% events stored, % in the tombstone)',
            p_stream_id, live.events, stone.events
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;

    IF EXISTS (SELECT 1 FROM job_status WHERE stream_id = p_stream_id AND status IN ('pending', 'processing')) THEN
        RAISE EXCEPTION 'job % is active: it cannot be archived', p_stream_id
            USING ERRCODE = 'object_in_use';
    END IF;

    PERFORM set_config('jobtrail.archiving', p_stream_id::text, true);
    DELETE FROM events WHERE stream_id = p_stream_id;
    GET DIAGNOSTICS removed = ROW_COUNT;
    PERFORM set_config('jobtrail.archiving', '', true);

    DELETE FROM job_status WHERE stream_id = p_stream_id;
    DELETE FROM job_status_shadow WHERE stream_id = p_stream_id;
    DELETE FROM job_stats WHERE stream_id = p_stream_id;
    DELETE FROM batch_results WHERE stream_id = p_stream_id;
    DELETE FROM inbox WHERE stream_id = p_stream_id;
    DELETE FROM outbox WHERE stream_id = p_stream_id;
    RETURN removed;
END
$$;
