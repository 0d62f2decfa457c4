-- The relay claims outbox rows in a short transaction of its own and publishes after
-- the commit, so no transaction waits on QStash. A row is claimable while it is unsent
-- and `next_attempt_at` is empty or past: a claim sets it a lease ahead (a relay that
-- dies mid-publish leaves the row to the others once the lease ends), a failed publish
-- sets it a backoff ahead, and a row the relay did not get to is handed back (NULL).
--
-- No index names the column: the claim walks the partial index of unsent rows in id
-- order (outbox_unsent, 0002) and filters on it, and leaving it out of every index
-- lets a claim or a backoff, which change nothing else, be a HOT update.
ALTER TABLE outbox ADD COLUMN next_attempt_at timestamptz;
