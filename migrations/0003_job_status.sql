-- The job status read model, written in the same statement as the append. `state`
-- is the full folded JobState: the snapshot commands decide against.
CREATE TABLE job_status (
    stream_id          uuid PRIMARY KEY,
    owner              text        NOT NULL,
    kind               text        NOT NULL,
    status             text        NOT NULL,
    version            integer     NOT NULL,
    processed_runs     integer     NOT NULL,
    processed_results  bigint      NOT NULL,
    target_results     bigint,
    max_runs           integer     NOT NULL,
    progress           double precision NOT NULL,
    attempts           integer     NOT NULL,
    last_error         text,
    outcome            text,
    idempotency_key    text,
    deadline           timestamptz,
    created_at         timestamptz NOT NULL,
    started_at         timestamptz,
    finished_at        timestamptz,
    updated_at         timestamptz NOT NULL,
    state              jsonb       NOT NULL,
    CONSTRAINT job_status_idempotency_key UNIQUE (owner, idempotency_key)
);

CREATE INDEX job_status_owner_created ON job_status (owner, created_at DESC, stream_id DESC);
CREATE INDEX job_status_active_deadline ON job_status (deadline)
    WHERE status IN ('pending', 'processing');

-- Global subscribers' progress through the log, committed with their views.
CREATE TABLE projection_checkpoints (
    name            text PRIMARY KEY,
    transaction_id  xid8        NOT NULL DEFAULT '0'::xid8,
    position        bigint      NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
