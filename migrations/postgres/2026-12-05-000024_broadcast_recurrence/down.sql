DROP INDEX broadcasts_recurring;
ALTER TABLE broadcasts DROP COLUMN parent_id;
ALTER TABLE broadcasts DROP COLUMN next_at;
ALTER TABLE broadcasts DROP COLUMN recurrence;
