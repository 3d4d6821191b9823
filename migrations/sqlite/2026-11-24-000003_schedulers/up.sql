CREATE TABLE job_schedulers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    description TEXT,
    trigger_type TEXT NOT NULL,
    repeat_every_seconds BIGINT,
    cron TEXT,
    timezone TEXT NOT NULL DEFAULT 'UTC',
    job_template TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT 1,
    owner_id BIGINT REFERENCES users(id) ON DELETE CASCADE,
    next_run_at TIMESTAMP,
    last_run_at TIMESTAMP,
    last_job_id BIGINT,
    run_count BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- The scheduler loop looks for enabled schedulers whose next run has come.
CREATE INDEX job_schedulers_due ON job_schedulers(enabled, next_run_at);
CREATE INDEX job_schedulers_owner ON job_schedulers(owner_id);
-- The jobs a scheduler made.
ALTER TABLE jobs ADD COLUMN scheduler_id BIGINT REFERENCES job_schedulers(id) ON DELETE SET NULL;
CREATE INDEX jobs_scheduler ON jobs(scheduler_id);
