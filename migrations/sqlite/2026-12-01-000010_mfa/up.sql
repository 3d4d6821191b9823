-- Two-factor sign-in (TOTP, RFC 6238): one row per user who began setting it up. `enabled`
-- once a first code was accepted; `last_step` is the time step of the last code accepted
-- (a code works once); `recovery` is a JSON array of the SHA-256 of the unspent recovery
-- codes.
CREATE TABLE user_mfa (
    user_id INTEGER PRIMARY KEY NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT FALSE,
    last_step BIGINT NOT NULL DEFAULT 0,
    recovery TEXT NOT NULL DEFAULT '[]',
    created_at TIMESTAMP NOT NULL,
    enabled_at TIMESTAMP
);
