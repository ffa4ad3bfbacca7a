DROP TABLE reply_rules;
DROP TABLE messages;
DROP TABLE followers;
