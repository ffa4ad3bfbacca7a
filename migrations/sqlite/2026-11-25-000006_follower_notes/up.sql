-- Notes merchants keep about a follower, with who wrote them.
CREATE TABLE follower_notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    follower_id BIGINT NOT NULL REFERENCES followers(id),
    author_id BIGINT REFERENCES users(id),
    author_name TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX follower_notes_follower ON follower_notes(tenant_id, follower_id, id);
