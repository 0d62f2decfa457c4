-- Two reads of the tombstones that must not grow with their number.
--
-- 1. The shadow rebuild asks which streams were archived since its snapshot
--    (projections/log.py CHANGED_SINCE), partly while it holds the swap's lock: a range
--    of this index, as the events' own transaction index serves the same question.
CREATE INDEX tombstones_transaction ON tombstones (transaction_id);

-- 2. The job list's first page, /v1/stats and every /metrics scrape say how many jobs
--    were archived. Counted once, when a stream's first tombstone is written (a restored
--    job archived again is still one job), in the archiving transaction itself.
CREATE TABLE archived_counts (
    owner  text   PRIMARY KEY,
    jobs   bigint NOT NULL
);

CREATE FUNCTION tombstones_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM tombstones WHERE stream_id = NEW.stream_id AND id <> NEW.id) THEN
        INSERT INTO archived_counts AS c (owner, jobs) VALUES (NEW.owner, 1)
            ON CONFLICT (owner) DO UPDATE SET jobs = c.jobs + 1;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER tombstones_count AFTER INSERT ON tombstones
    FOR EACH ROW EXECUTE FUNCTION tombstones_count();

INSERT INTO archived_counts (owner, jobs)
SELECT owner, count(DISTINCT stream_id) FROM tombstones GROUP BY owner;
