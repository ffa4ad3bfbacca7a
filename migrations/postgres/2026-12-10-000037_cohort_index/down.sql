DROP INDEX messages_follows_by_sent;
