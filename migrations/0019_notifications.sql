-- Notifications: signed webhooks to clients when their jobs finish, and alerts to operators.
--
-- webhook_endpoints: an owner's registered endpoints, each with its own signing secret,
-- optionally filtered to some kinds and final statuses (NULL: all). notify_secrets: the
-- one secret per owner that signs notifications to a job's own notify_url. Secrets are
-- stored encrypted (Fernet), never hashed: an HMAC secret must be read back to sign.
CREATE TABLE webhook_endpoints (
    id          uuid        PRIMARY KEY,
    owner       text        NOT NULL,
    url         text        NOT NULL,
    kinds       text[],
    statuses    text[],
    secret      bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    rotated_at  timestamptz
);

CREATE INDEX webhook_endpoints_owner ON webhook_endpoints (owner, created_at);

CREATE TABLE notify_secrets (
    owner       text        PRIMARY KEY,
    secret      bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per (message, endpoint): queued by the append that records a job's final event
-- (the outbox pattern), or by the alert check that announces a verdict change; published
-- by the notification relay, then completed by QStash's callbacks. `webhook_id` is the
-- Standard Webhooks message id, stable per (job, final event). `signed_with` says whose
-- secret signs it: the endpoint's, the owner's notify_url secret, or the alert secret.
CREATE TABLE notifications (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id        text        NOT NULL,
    stream_id         uuid,
    owner             text,
    endpoint_id       uuid,
    url               text        NOT NULL,
    signed_with       text        NOT NULL CHECK (signed_with IN ('endpoint', 'owner', 'alert')),
    body              jsonb       NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    next_attempt_at   timestamptz,
    publish_attempts  integer     NOT NULL DEFAULT 0,
    last_error        text,
    sent_at           timestamptz,
    message_id        text,
    attempts          integer     NOT NULL DEFAULT 0,
    last_status       integer,
    delivered_at      timestamptz,
    failed_at         timestamptz,
    dlq_id            text
);

CREATE UNIQUE INDEX notifications_once ON notifications (webhook_id, coalesce(endpoint_id::text, url));
CREATE INDEX notifications_unsent ON notifications (id) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX notifications_stream ON notifications (stream_id, id) WHERE stream_id IS NOT NULL;
CREATE UNIQUE INDEX notifications_message ON notifications (message_id) WHERE message_id IS NOT NULL;

-- The last health verdict announced to the operators' alert endpoint, and the verdict
-- waiting out its hold before it is. One row; every process's check updates it under its
-- row lock, so a change is announced once whatever the number of processes.
CREATE TABLE health_alerts (
    id               boolean     PRIMARY KEY DEFAULT true CHECK (id),
    announced        text        NOT NULL DEFAULT 'healthy',
    candidate        text,
    candidate_since  timestamptz,
    announced_at     timestamptz
);

INSERT INTO health_alerts DEFAULT VALUES;
