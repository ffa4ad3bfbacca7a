ALTER TABLE campaigns DROP COLUMN accepts_short_codes;
