DROP TABLE broadcast_emails;
ALTER TABLE broadcasts DROP COLUMN email;
ALTER TABLE followers DROP COLUMN email_unsubscribed_at;
ALTER TABLE followers DROP COLUMN email_consent_source;
ALTER TABLE followers DROP COLUMN email_consent_at;
