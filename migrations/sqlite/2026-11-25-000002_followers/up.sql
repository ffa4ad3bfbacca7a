-- Followers of each tenant's Official Account and the permanent message archive.
CREATE TABLE followers (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    openid TEXT NOT NULL,
    unionid TEXT,
    subscribed BOOLEAN NOT NULL,
    subscribed_at TIMESTAMP,
    unsubscribed_at TIMESTAMP,
    subscribe_count BIGINT NOT NULL,
    subscribe_scene TEXT,
    qr_scene TEXT,
    last_interaction_at TIMESTAMP,
    name TEXT,
    phone TEXT,
    email TEXT,
    birthday DATE,
    remark TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (tenant_id, openid)
);
CREATE INDEX followers_last_interaction ON followers(tenant_id, last_interaction_at);
CREATE INDEX followers_created ON followers(tenant_id, created_at);

-- Every inbound message and event, and every reply or message sent, forever.
-- dedupe_key is set on inbound rows (MsgId, or FromUserName+CreateTime+Event) so a push
-- WeChat retries is stored once; reply holds the passive reply given, so a retry gets the
-- same answer.
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    follower_id BIGINT REFERENCES followers(id),
    direction TEXT NOT NULL,
    msg_type TEXT NOT NULL,
    event TEXT,
    dedupe_key TEXT,
    content TEXT,
    body TEXT NOT NULL,
    reply TEXT,
    sent_at TIMESTAMP NOT NULL,
    received_at TIMESTAMP NOT NULL,
    UNIQUE (tenant_id, dedupe_key)
);
CREATE INDEX messages_timeline ON messages(tenant_id, follower_id, id);

-- Auto-reply rules. reply_kind 'text' carries the text in reply_body; later kinds (image,
-- news) carry JSON there.
CREATE TABLE reply_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    trigger_kind TEXT NOT NULL,
    trigger_value TEXT NOT NULL,
    reply_kind TEXT NOT NULL,
    reply_body TEXT NOT NULL,
    priority BIGINT NOT NULL,
    enabled BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX reply_rules_tenant ON reply_rules(tenant_id);
