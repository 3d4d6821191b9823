-- The audit log (S3): who did what to what, when, from where, and how it ended.
-- Append-only: nothing in vcore updates a row; only retention (AUDIT_RETENTION_DAYS)
-- deletes old ones.
CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMP NOT NULL,
    actor_id BIGINT,
    actor_key_id BIGINT,
    actor_name TEXT,
    action TEXT NOT NULL,
    target_type TEXT,
    target_id TEXT,
    outcome TEXT NOT NULL,
    ip TEXT,
    user_agent TEXT,
    request_id TEXT,
    detail TEXT
);
CREATE INDEX audit_log_at ON audit_log(at);
CREATE INDEX audit_log_actor ON audit_log(actor_id, at);
CREATE INDEX audit_log_action ON audit_log(action, at);
CREATE INDEX audit_log_target ON audit_log(target_type, target_id);
