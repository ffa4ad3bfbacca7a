-- The email channel of broadcasts. A follower is emailed only with recorded consent
-- (when, and how it was given); unsubscribing (the signed link in every email) clears
-- the consent and records when.
ALTER TABLE followers ADD COLUMN email_consent_at TIMESTAMP;
ALTER TABLE followers ADD COLUMN email_consent_source TEXT;
ALTER TABLE followers ADD COLUMN email_unsubscribed_at TIMESTAMP;
-- A broadcast that also goes by email, and its emails: planned with the broadcast (one
-- row per follower), each claimed before it is sent and marked after, so a retried job
-- never emails anyone twice.
ALTER TABLE broadcasts ADD COLUMN email BOOLEAN NOT NULL DEFAULT FALSE;
CREATE TABLE broadcast_emails (
    broadcast_id BIGINT NOT NULL REFERENCES broadcasts(id),
    follower_id BIGINT NOT NULL REFERENCES followers(id),
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    address TEXT NOT NULL,
    -- pending, sending (claimed), sent, failed
    state TEXT NOT NULL,
    error TEXT,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (broadcast_id, follower_id)
);
CREATE INDEX broadcast_emails_state ON broadcast_emails (broadcast_id, state);
