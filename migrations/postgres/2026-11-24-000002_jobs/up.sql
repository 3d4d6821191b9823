CREATE TABLE jobs (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    command TEXT NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}',
    queue TEXT NOT NULL,
    priority SMALLINT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    timeout_secs INTEGER,
    run_at TIMESTAMP NOT NULL,
    unique_key TEXT,
    owner_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    exit_code INTEGER,
    result TEXT,
    error TEXT,
    log_path TEXT,
    lease_owner TEXT,
    lease_expires_at TIMESTAMP,
    fence BIGINT NOT NULL DEFAULT 0
);
-- Claim order: highest priority first, then first in, first out.
CREATE INDEX jobs_claim ON jobs(queue, status, priority DESC, id);
-- The anti-starvation claims take the oldest eligible job, whatever its priority.
CREATE INDEX jobs_oldest ON jobs(queue, status, id);
CREATE INDEX jobs_run_at ON jobs(status, run_at);
CREATE INDEX jobs_lease ON jobs(status, lease_expires_at);
CREATE INDEX jobs_owner ON jobs(owner_id);
-- At most one live job per unique key.
CREATE UNIQUE INDEX jobs_unique_live ON jobs(unique_key)
    WHERE unique_key IS NOT NULL AND status IN ('pending', 'queued', 'running');
