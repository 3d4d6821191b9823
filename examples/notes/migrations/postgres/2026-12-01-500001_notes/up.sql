-- The notes application's one table. Its migrations run after vcore's (users exists).
CREATE TABLE notes (
    id BIGSERIAL PRIMARY KEY,
    owner_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    body TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX notes_owner ON notes(owner_id, id);
