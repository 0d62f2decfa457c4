-- The token (`jti`) of every signed QStash delivery, claimed before any handler runs
-- (service/qstash/delivery.py), with the message id that presented it (for whoever
-- traces a replay). The message id is not covered by the signature; the token is, and
-- QStash signs each attempt afresh. A token presented again, under any message id, is a
-- captured request replayed: it is answered as a duplicate and runs nothing.
--
-- UNLOGGED: a claim writes no WAL, so it adds no flush to a delivery's commit. A crash of
-- PostgreSQL empties the table; the claims of the last few minutes are lost with it, and
-- the inbox (keyed by message id) still answers every delivery it recorded. A claim is
-- needed only while its token can verify (5 minutes, plus clock leeway): the sweep
-- forgets older ones.
CREATE UNLOGGED TABLE delivery_tokens (
    jti         text        PRIMARY KEY,
    message_id  text        NOT NULL,
    claimed_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX delivery_tokens_claimed_at ON delivery_tokens (claimed_at);
