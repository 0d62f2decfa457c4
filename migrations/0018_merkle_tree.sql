-- The Merkle tree over the log (RFC 9162) and the signed checkpoints of it (docs/audit.md).
--
-- The `merkle` subscriber of the catch-up runner (projections/merkle_tree.py) gives each
-- event a leaf, in the gap-safe order the runner reads, and stores every complete
-- subtree's root, so any root, inclusion or consistency proof is a handful of indexed
-- reads. Appends never wait for it. `events` is never updated: leaves are their own table.
CREATE TABLE merkle_leaves (
    leaf_index  bigint PRIMARY KEY,
    position    bigint NOT NULL UNIQUE,  -- the event's; kept when an archived event leaves `events`
    hash        bytea  NOT NULL          -- the event's chain hash when the leaf was given: its data
);

-- Node (level, index) is the root of leaves [index * 2^level, (index + 1) * 2^level), kept
-- from level 3 up (subtrees of 8 leaves and more): smaller ones are hashed from their
-- leaves when read, which makes every leaf about a quarter as costly to write.
CREATE TABLE merkle_nodes (
    level  smallint NOT NULL,
    index  bigint   NOT NULL,
    hash   bytea    NOT NULL,
    PRIMARY KEY (level, index)
);

CREATE FUNCTION merkle_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the Merkle tree is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER merkle_leaves_immutable BEFORE UPDATE OR DELETE ON merkle_leaves
    FOR EACH ROW EXECUTE FUNCTION merkle_refuse_change();
CREATE TRIGGER merkle_leaves_no_truncate BEFORE TRUNCATE ON merkle_leaves
    FOR EACH STATEMENT EXECUTE FUNCTION merkle_refuse_change();
CREATE TRIGGER merkle_nodes_immutable BEFORE UPDATE OR DELETE ON merkle_nodes
    FOR EACH ROW EXECUTE FUNCTION merkle_refuse_change();
CREATE TRIGGER merkle_nodes_no_truncate BEFORE TRUNCATE ON merkle_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION merkle_refuse_change();

-- Checkpoints are events of one stream of their own (domain/checkpoint.py): found by tree size.
CREATE INDEX events_checkpoints ON events ((((data ->> 'tree_size'))::bigint))
    WHERE type = 'CheckpointIssued';

-- Every key that has signed a checkpoint: the public half only (the private key never
-- reaches the database), so retired keys are still served at GET /v1/audit/keys.
CREATE TABLE audit_keys (
    key_id      text        PRIMARY KEY,
    public_key  bytea       NOT NULL,
    first_used  timestamptz NOT NULL DEFAULT now()
);

-- An archived job keeps its leaves: its tombstone records their indexes, so the archived
-- file still proves inclusion against the checkpoints signed while it was in the log.
-- Written by a trigger, so no archiver can forget it; a stream with an event that has no
-- leaf yet (the tree lags behind) cannot be archived until it has one.
CREATE TABLE tombstone_leaves (
    tombstone_id  bigint   PRIMARY KEY REFERENCES tombstones (id),
    leaf_indexes  bigint[] NOT NULL  -- in version order
);

CREATE FUNCTION tombstone_record_leaves() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    indexes  bigint[];
    missing  integer;
BEGIN
    SELECT array_agg(l.leaf_index ORDER BY e.version), count(*) FILTER (WHERE l.leaf_index IS NULL)
      INTO indexes, missing
      FROM events e LEFT JOIN merkle_leaves l ON l.position = e.position
     WHERE e.stream_id = NEW.stream_id;
    IF missing > 0 THEN
        RAISE EXCEPTION 'stream % has % events not yet in the Merkle tree: archive it once the tree has caught up',
            NEW.stream_id, missing
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    INSERT INTO tombstone_leaves (tombstone_id, leaf_indexes) VALUES (NEW.id, coalesce(indexes, '{}'));
    RETURN NEW;
END
$$;

CREATE TRIGGER tombstones_record_leaves AFTER INSERT ON tombstones
    FOR EACH ROW EXECUTE FUNCTION tombstone_record_leaves();

CREATE TRIGGER tombstone_leaves_immutable BEFORE UPDATE OR DELETE ON tombstone_leaves
    FOR EACH ROW EXECUTE FUNCTION merkle_refuse_change();
