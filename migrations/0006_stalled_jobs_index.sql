-- The sweeper looks for active jobs that have not moved for a while.
CREATE INDEX job_status_active_updated ON job_status (updated_at)
    WHERE status IN ('pending', 'processing');
