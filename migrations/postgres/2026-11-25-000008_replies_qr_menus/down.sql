DROP TABLE menus;
DROP TABLE qr_codes;
ALTER TABLE reply_rules DROP COLUMN active_window;
