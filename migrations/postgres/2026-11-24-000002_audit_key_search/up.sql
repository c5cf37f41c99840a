-- The audit log's filter by key name matches `key_search_name`: the event's key name folded by
-- keyward itself (`keys::search_form`, Unicode-aware), written with the event, as
-- `api_keys.search_name` is for the key table. The databases' own lower() folds ASCII only
-- on SQLite ("Ärger" was not found by "är") and follows the locale on PostgreSQL.
ALTER TABLE audit_events ADD COLUMN key_search_name TEXT;
-- Folded by the database here; `db::run_migrations` re-folds in Rust right after.
UPDATE audit_events SET key_search_name = lower(key_name) WHERE key_name IS NOT NULL;
