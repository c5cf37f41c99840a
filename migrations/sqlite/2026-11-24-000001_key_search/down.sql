DROP INDEX api_keys_search;
ALTER TABLE api_keys DROP COLUMN search_name;
