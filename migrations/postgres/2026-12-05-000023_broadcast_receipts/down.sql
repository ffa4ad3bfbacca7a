ALTER TABLE broadcasts DROP COLUMN at_cap;
DROP TABLE broadcast_receipts;
