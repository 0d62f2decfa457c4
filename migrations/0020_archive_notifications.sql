-- An archived job's notifications (0019) go with it: archive_stream() as in 0015, now
-- also removing the job's rows of `notifications`, and refusing, like an active job, one
-- whose notification is still on its way (neither delivered nor failed), so QStash's
-- reports on it still find their row. A notification unsettled for a day has lost its
-- reports (a callback in QStash's DLQ) and no longer holds its job back.
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

    IF EXISTS (SELECT 1 FROM notifications
                WHERE stream_id = p_stream_id AND delivered_at IS NULL AND failed_at IS NULL
                  AND created_at > now() - interval '1 day') THEN
        RAISE EXCEPTION 'job % has a notification on its way: it cannot be archived yet', p_stream_id
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
    DELETE FROM notifications WHERE stream_id = p_stream_id;
    RETURN removed;
END
$$;
