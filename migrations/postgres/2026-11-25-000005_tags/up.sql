-- Local follower tags (WeChat's own tags sync into these later through wx_tag_id).
CREATE TABLE tags (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    wx_tag_id BIGINT,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (tenant_id, name)
);
CREATE TABLE follower_tags (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    tag_id BIGINT NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
    follower_id BIGINT NOT NULL REFERENCES followers(id),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tag_id, follower_id)
);
CREATE INDEX follower_tags_follower ON follower_tags(follower_id);
