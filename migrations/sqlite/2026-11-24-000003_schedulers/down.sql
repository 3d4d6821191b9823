DROP INDEX jobs_scheduler;
ALTER TABLE jobs DROP COLUMN scheduler_id;
DROP TABLE job_schedulers;
