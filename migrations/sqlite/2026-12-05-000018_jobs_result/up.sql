-- What a finished job did, as JSON for the page that shows it (a bulk issue: issued,
-- skipped and why, not served).
ALTER TABLE jobs ADD COLUMN result TEXT;
