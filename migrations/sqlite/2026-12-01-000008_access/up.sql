-- Roles beside superuser (S3): operator, user, viewer. `is_superuser` stays, kept equal to
-- `role = 'superuser'` by the users service (clients of the FastAPI template read it).
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user'
    CHECK (role IN ('superuser', 'operator', 'user', 'viewer'));
UPDATE users SET role = 'superuser' WHERE is_superuser;

-- API keys: `vk_<prefix>_<secret>`. The prefix is shown and looked up; only the SHA-256 of
-- the whole key is kept.
CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL UNIQUE,
    key_hash TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    last_used_at TIMESTAMP,
    last_used_ip TEXT,
    revoked_at TIMESTAMP
);
CREATE INDEX api_keys_user_id ON api_keys(user_id);
