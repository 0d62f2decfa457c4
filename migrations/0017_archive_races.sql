-- Retention's two needs from the schema: an archive run must never race an append into
-- a half-removed stream, and finding expired jobs must not read the whole status table.
--
-- 1. An append after the first event now takes a KEY SHARE lock on the event it
-- chains to. archive_stream()'s DELETE needs that row exclusively, so the two order
-- themselves. An append that got there first makes the DELETE wait until it commits,
-- and the check after the DELETE then finds the new event and refuses (the whole
-- archive transaction rolls back; the job stays whole). An archive that got there first
-- makes the append wait; once the archive commits the locked row is gone, so the append
-- finds no predecessor and fails with events_version_gap, which the event store reports
-- as a concurrency conflict (the command is decided again, against no job). The lock is
-- kept in the tuple itself: no lock-table entry, however many streams one transaction
-- appends to. The hash is computed exactly as before (0001, 0009).
CREATE OR REPLACE FUNCTION events_chain() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.version > 1 THEN
        SELECT e.hash INTO NEW.prev_hash
          FROM events e
         WHERE e.stream_id = NEW.stream_id AND e.version = NEW.version - 1
           FOR KEY SHARE;
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

-- 2. archive_stream() as in 0015, with one more check after the DELETE: a fresh look
-- (each statement of a function sees what committed before it began) for an event that
-- an append committed while the DELETE waited for it.
CREATE OR REPLACE FUNCTION archive_stream(p_stream_id uuid) RETURNS integer LANGUAGE plpgsql AS $$
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

    IF removed <> stone.events OR EXISTS (SELECT 1 FROM events WHERE stream_id = p_stream_id) THEN
        RAISE EXCEPTION 'stream % changed while it was being archived', p_stream_id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;

    DELETE FROM job_status WHERE stream_id = p_stream_id;
    DELETE FROM job_status_shadow WHERE stream_id = p_stream_id;
    DELETE FROM job_stats WHERE stream_id = p_stream_id;
    DELETE FROM batch_results WHERE stream_id = p_stream_id;
    DELETE FROM inbox WHERE stream_id = p_stream_id;
    DELETE FROM outbox WHERE stream_id = p_stream_id;
    RETURN removed;
END
$$;

-- 3. Expired jobs are finished ones, oldest finish first (service/store/job_status.py,
-- EXPIRED). The shadow twin gets the same index under its own name, as a swap needs.
CREATE INDEX job_status_finished ON job_status (finished_at)
    WHERE status IN ('completed', 'cancelled', 'error', 'timeout');
CREATE INDEX job_status_shadow_finished ON job_status_shadow (finished_at)
    WHERE status IN ('completed', 'cancelled', 'error', 'timeout');
