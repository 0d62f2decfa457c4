-- A job's progress is a percentage only when the size of its work is known: a target,
-- or the total its source reports (domain/state.py, progress). Without either it is
-- NULL, and readers show runs and results instead. Rows written before were given runs
-- against max_runs in that case; they get NULL, as a rebuild from the log would write.
-- job_status_shadow changes the same way (0008: the swap refuses twins that differ).
ALTER TABLE job_status ALTER COLUMN progress DROP NOT NULL;
ALTER TABLE job_status_shadow ALTER COLUMN progress DROP NOT NULL;

UPDATE job_status SET progress = NULL
 WHERE target_results IS NULL AND status <> 'completed' AND progress IS NOT NULL;
UPDATE job_status_shadow SET progress = NULL
 WHERE target_results IS NULL AND status <> 'completed' AND progress IS NOT NULL;
