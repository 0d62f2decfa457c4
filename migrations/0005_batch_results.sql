-- The items each batch produced, written in the same statement as its BatchRecorded
-- event. Runs never repeat (a requeued job resumes at the next run), so (job, run) is
-- the key.
CREATE TABLE batch_results (
    stream_id    uuid        NOT NULL,
    run          integer     NOT NULL,
    items        jsonb       NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, run)
);
