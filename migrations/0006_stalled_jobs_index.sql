-- The sweeper scans the active jobs for ones that have not moved for a while. The index
-- names them by stream_id, which never changes, rather than by updated_at, which
-- changes on every append: an index on it would make every status update write new
-- entries in all of the table's indexes. With free room in each page (fillfactor),
-- most updates of a running job are then HOT: no index is touched at all.
CREATE INDEX job_status_active ON job_status (stream_id)
    WHERE status IN ('pending', 'processing');

ALTER TABLE job_status SET (fillfactor = 70);
