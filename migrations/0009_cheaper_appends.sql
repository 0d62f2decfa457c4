-- Two costs of every append, removed without changing what is stored.

-- 1. The canonical text was declared IMMUTABLE, but jsonb_build_array and to_char are
-- STABLE, and PostgreSQL only inlines an SQL function whose body is no more volatile
-- than it says. Not inlined, the trigger ran it through the SQL-function executor,
-- which parses and plans the body again in every transaction: half the trigger's time.
-- STABLE is what it truly is; the bytes it produces, and so every hash, are unchanged.
ALTER FUNCTION event_canonical(uuid, integer, text, jsonb, jsonb, timestamptz) STABLE;

-- 2. The relay is now woken by the appender, after its commit, not by a trigger inside
-- it. A transaction that has queued a notification takes a cluster-wide lock at commit
-- and holds it until its commit record is flushed to disk, so every append that queued
-- an outbox row waited for the previous one's fsync: such commits were serialized and
-- group commit was lost. A NOTIFY in a transaction of its own writes nothing and holds
-- the lock for an instant. A lost wake-up (a crash in between) costs one poll interval.
DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION outbox_notify();
