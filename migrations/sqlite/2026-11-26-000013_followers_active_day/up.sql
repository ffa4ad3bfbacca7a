-- Each day's active followers in id order, for the "last active" filter: a page takes the
-- newest ids of each day in the span and merges them (store::followers::active_page_below).
-- The expression is the day part of the text diesel stores a timestamp as. SQLite only:
-- PostgreSQL's planner serves the filter from followers_last_interaction and the id index.
CREATE INDEX followers_active_day ON followers(tenant_id, substr(last_interaction_at, 1, 10));
