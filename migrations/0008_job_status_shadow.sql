-- A permanent twin of job_status for `jobtrail projections rebuild --shadow`: the
-- rebuild folds the log into it while appends keep landing in job_status, then swaps
-- the two by renaming them and their indexes and constraints, in one short
-- transaction. Every object here is named like its job_status counterpart with
-- `job_status` replaced by `job_status_shadow`; the swap relies on that and refuses
-- to run when the two tables differ in anything but those names. A migration that
-- changes job_status must change this table the same way.
CREATE TABLE job_status_shadow (
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
    CONSTRAINT job_status_shadow_idempotency_key UNIQUE (owner, idempotency_key)
) WITH (fillfactor = 70);

CREATE INDEX job_status_shadow_owner_created ON job_status_shadow (owner, created_at DESC, stream_id DESC);
CREATE INDEX job_status_shadow_active_deadline ON job_status_shadow (deadline)
    WHERE status IN ('pending', 'processing');
CREATE INDEX job_status_shadow_active ON job_status_shadow (stream_id)
    WHERE status IN ('pending', 'processing');
