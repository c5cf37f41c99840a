DROP INDEX api_keys_search;
DROP TRIGGER api_keys_fts_update;
DROP TRIGGER api_keys_fts_delete;
DROP TRIGGER api_keys_fts_insert;
DROP TABLE api_keys_fts;
ALTER TABLE api_keys DROP COLUMN search_name;
