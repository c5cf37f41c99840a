CREATE INDEX api_keys_by_workspace_name ON api_keys (workspace_id, name);
DROP INDEX api_keys_by_workspace_search_name;
