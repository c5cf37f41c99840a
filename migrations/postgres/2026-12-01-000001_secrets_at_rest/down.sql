ALTER TABLE api_keys DROP COLUMN revealed_at;
