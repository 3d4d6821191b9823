-- The dashboard counts jobs that ended in the last hour, and retention deletes by end time.
CREATE INDEX jobs_finished ON jobs(finished_at);
