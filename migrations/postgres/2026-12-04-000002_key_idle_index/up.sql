-- The key table's "stale" figure and filter: a workspace's keys by their last use, or their
-- creation when never used, so counting the keys idle for 30+ days is one index range. Queries
-- write the expression the same way (`keys::store`).
CREATE INDEX api_keys_idle ON api_keys (workspace_id, coalesce(last_used_at, created_at));
