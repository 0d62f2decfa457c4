-- Inbox: every QStash delivery handled, keyed by its message id, with the answer it
-- got, written in the same transaction as the events it caused.
CREATE TABLE inbox (
    message_id   text PRIMARY KEY,
    stream_id    uuid,
    outcome      text        NOT NULL,
    status_code  integer     NOT NULL DEFAULT 200,
    response     jsonb       NOT NULL DEFAULT '{}',
    recorded_at  timestamptz NOT NULL DEFAULT now()
);

-- Outbox: messages to publish, written with the events that call for them and
-- marked sent by the relay. The deduplication id makes a re-publish harmless.
CREATE TABLE outbox (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id         uuid        NOT NULL,
    run               integer     NOT NULL,
    deduplication_id  text        NOT NULL,
    body              jsonb       NOT NULL,
    delay_s           double precision NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    sent_at           timestamptz,
    message_id        text,
    publish_attempts  integer     NOT NULL DEFAULT 0,
    last_error        text,
    CONSTRAINT outbox_deduplication_id_key UNIQUE (deduplication_id)
);

CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;

-- Wake the relay as soon as a row commits. Per row, so an append that queues nothing
-- sends nothing; PostgreSQL folds identical notifications of one transaction into one.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('jobtrail_outbox', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH ROW EXECUTE FUNCTION outbox_notify();
