-- Command jobs' output in chunks: used on PostgreSQL (see the PostgreSQL migration); on
-- SQLite, output stays in JOB_LOG_DIR. Same schema on both, so one Diesel table serves both.
CREATE TABLE job_logs (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    start BIGINT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (job_id, start)
);
