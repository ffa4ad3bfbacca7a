DROP INDEX followers_subscribed_at;
