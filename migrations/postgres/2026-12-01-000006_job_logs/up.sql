-- Command jobs' output, in chunks, on PostgreSQL (any node can read and follow it; no
-- shared disk). `start` is the chunk's byte offset in the job's whole output (all attempts),
-- the offsets GET /jobs/{id}/log uses. Deleted with the job.
CREATE TABLE job_logs (
    job_id BIGINT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    start BIGINT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (job_id, start)
);
