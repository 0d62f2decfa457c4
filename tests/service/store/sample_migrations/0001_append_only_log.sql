-- A sample for the runner's tests: several statements, a plpgsql $$ body, a literal %.
CREATE TABLE sample_events (
    position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id uuid NOT NULL,
    version integer NOT NULL,
    data jsonb NOT NULL,
    CONSTRAINT sample_events_stream_version UNIQUE (stream_id, version)
);

CREATE FUNCTION sample_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'sample_events is append-only (100%% of the time)';
END;
$$;

CREATE TRIGGER sample_events_append_only BEFORE UPDATE OR DELETE ON sample_events
    FOR EACH ROW EXECUTE FUNCTION sample_refuse_change();
