-- The schedules read model, written in the same statement as a schedule's append, as
-- job_status is with a job's. Its streams live in `events` beside the jobs', under the
-- same hash chain. `state` is the full folded ScheduleState, the snapshot commands decide
-- against; `next_fire_at` is the first tick after the schedule's last event (UTC), null
-- while paused, deleted or past its end.
CREATE TABLE schedules (
    stream_id        uuid        PRIMARY KEY,
    owner            text        NOT NULL,
    kind             text        NOT NULL,
    status           text        NOT NULL,
    cron             text        NOT NULL,
    time_zone        text        NOT NULL,
    next_fire_at     timestamptz,
    last_tick        timestamptz,
    last_job_id      uuid,
    jobs_created     integer     NOT NULL,
    idempotency_key  text,
    version          integer     NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    state            jsonb       NOT NULL,
    CONSTRAINT schedules_idempotency_key UNIQUE (owner, idempotency_key)
);

CREATE INDEX schedules_owner_created ON schedules (owner, created_at DESC, stream_id DESC);
