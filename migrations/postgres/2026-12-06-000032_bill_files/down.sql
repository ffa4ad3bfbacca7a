ALTER TABLE reconcile_runs DROP COLUMN totals;
ALTER TABLE pay_settings DROP COLUMN merchant_key_enc;
ALTER TABLE pay_settings DROP COLUMN merchant_serial;
DROP TABLE bill_file_chunks;
DROP TABLE bill_files;
