-- Imported coupon codes shorter than 8 characters can be guessed at the till; a campaign
-- accepts them only when it says so.
ALTER TABLE campaigns ADD COLUMN accepts_short_codes BOOLEAN NOT NULL DEFAULT false;
