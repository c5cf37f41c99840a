ALTER TABLE audit_events DROP COLUMN key_search_name;
