-- Every vcore process sharing this database, and when it last said it was alive.
CREATE TABLE nodes (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    version TEXT NOT NULL,
    -- JSON: [{"name": "default", "concurrency": 4}, ...]; [] for a web-only node.
    queues TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    heartbeat_at TIMESTAMP NOT NULL
);
-- Named leases held by one node at a time (the elected maintenance node).
CREATE TABLE leases (
    name TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
-- Queues whose consumers are stopped: for every node, across restarts.
CREATE TABLE paused_queues (
    queue TEXT PRIMARY KEY NOT NULL,
    paused_at TIMESTAMP NOT NULL
);

-- Wake-ups across processes. A job becoming ready (`queued`) or waiting (`pending`) sends
-- a hint on channel `vcore_jobs`: `q:<queue>` or `p`. PostgreSQL folds identical
-- notifications of one transaction into one, so a bulk enqueue of 2,000 jobs into one
-- queue sends one. Listeners treat it as a hint only; polling remains the fallback.
CREATE FUNCTION vcore_jobs_hint() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'queued' THEN
        PERFORM pg_notify('vcore_jobs', 'q:' || NEW.queue);
    ELSE
        PERFORM pg_notify('vcore_jobs', 'p');
    END IF;
    RETURN NULL;
END
$$;
-- Inserts: once per statement, so that a bulk insert costs one call, not one per row.
CREATE FUNCTION vcore_jobs_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('vcore_jobs', 'q:' || q)
        FROM (SELECT DISTINCT queue AS q FROM new_jobs WHERE status = 'queued') AS ready;
    IF EXISTS (SELECT 1 FROM new_jobs WHERE status = 'pending') THEN
        PERFORM pg_notify('vcore_jobs', 'p');
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER jobs_hint_insert AFTER INSERT ON jobs
    REFERENCING NEW TABLE AS new_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION vcore_jobs_inserted();
-- Changes (promotion, retry, hand-back, rescue, a new run_at or queue): per row, and only
-- for the rows that become ready or waiting (the WHEN clause costs no function call).
CREATE TRIGGER jobs_hint_update AFTER UPDATE OF status, run_at, queue ON jobs
    FOR EACH ROW WHEN (NEW.status IN ('queued', 'pending') AND (
        OLD.status IS DISTINCT FROM NEW.status
        OR OLD.run_at IS DISTINCT FROM NEW.run_at
        OR OLD.queue IS DISTINCT FROM NEW.queue))
    EXECUTE FUNCTION vcore_jobs_hint();
