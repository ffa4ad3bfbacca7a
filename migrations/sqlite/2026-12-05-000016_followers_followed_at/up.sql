-- "New followers in the last N days" counts follows that happened then (WeChat's subscribe
-- time, from pushes and syncs), not rows imported or synced in the period.
CREATE INDEX followers_subscribed_at ON followers(tenant_id, subscribed_at);
