DROP TRIGGER follower_counts_update;
DROP TRIGGER follower_counts_delete;
DROP TRIGGER follower_counts_insert;
DROP TABLE follower_counts;
DROP INDEX followers_remark;
DROP INDEX followers_email;
DROP INDEX followers_phone;
DROP INDEX followers_name;
