DROP INDEX api_keys_search_trgm;
ALTER TABLE api_keys DROP COLUMN search_name;
-- pg_trgm stays: other objects may use it, and it is harmless.
