-- Wake live streams when events commit. Once per inserting statement (an append is one
-- statement), naming the streams it wrote so that watchers of other jobs stay asleep.
-- NOTIFY is delivered at commit only: a rolled-back append wakes nobody. A payload
-- must stay under 8000 bytes; past 200 streams it is empty, meaning "any stream".

CREATE FUNCTION events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    streams integer;
    payload text;
BEGIN
    SELECT count(DISTINCT stream_id), string_agg(DISTINCT stream_id::text, ',')
      INTO streams, payload
      FROM inserted;
    IF streams > 0 THEN
        PERFORM pg_notify('jobtrail_events', CASE WHEN streams > 200 THEN '' ELSE payload END);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER events_notify AFTER INSERT ON events
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify();
