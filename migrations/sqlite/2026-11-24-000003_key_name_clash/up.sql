-- Active key names are unique in any case: the create and regenerate checks compare
-- `search_name` (the name as `keys::search_form` folds it), no longer `name`. This index
-- serves that lookup and replaces the one on the exact name, which nothing else reads.
CREATE INDEX api_keys_by_workspace_search_name ON api_keys (workspace_id, search_name);
DROP INDEX api_keys_by_workspace_name;
