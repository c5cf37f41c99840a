-- The key table's name search matches `search_name`: the name lower-cased by keyward itself
-- (`keys::search_form`, Unicode-aware), written with the key; names never change afterwards.
-- Why a stored column and not `lower(name)` at query time: SQLite's lower() folds ASCII only
-- ("Ärger" was not found by "är"), and calling it on every row made a search with few
-- matches cost ~90 ms at 100,000 keys.
ALTER TABLE api_keys ADD COLUMN search_name TEXT NOT NULL DEFAULT '';
-- ASCII folding only; `db::run_migrations` re-folds the other names in Rust right after.
UPDATE api_keys SET search_name = lower(name);
-- Covering index for the search: the newest-first walk over (workspace_id, id) tests
-- search_name inside the index and reads a table row only for a match.
CREATE INDEX api_keys_search ON api_keys (workspace_id, id, search_name);
