-- The stats read model: one narrow row per job, caught up from the log by the runner
-- (projections/stats.py) with its checkpoint, so /v1/stats and /metrics never scan
-- `events` at request time. Times are the events' own (`at`), like job_status.
CREATE TABLE job_stats (
    stream_id      uuid PRIMARY KEY,
    owner          text        NOT NULL,
    kind           text        NOT NULL,
    status         text        NOT NULL,
    version        integer     NOT NULL,  -- the last event folded in
    created_at     timestamptz NOT NULL,
    started_at     timestamptz,
    finished_at    timestamptz,           -- cleared by a requeue
    progressed_at  timestamptz NOT NULL,  -- the last creation, start, batch or requeue
    duration_s     double precision       -- created to finished, once finished
);

-- The window queries: jobs created, and jobs finished, since an instant, for one
-- owner or for all; and the processing jobs that have not progressed for a while.
CREATE INDEX job_stats_created ON job_stats (created_at);
CREATE INDEX job_stats_owner_created ON job_stats (owner, created_at);
CREATE INDEX job_stats_finished ON job_stats (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX job_stats_owner_finished ON job_stats (owner, finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX job_stats_processing ON job_stats (progressed_at) WHERE status = 'processing';
