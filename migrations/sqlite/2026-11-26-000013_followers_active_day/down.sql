DROP INDEX followers_active_day;
