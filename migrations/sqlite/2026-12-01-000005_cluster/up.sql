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
