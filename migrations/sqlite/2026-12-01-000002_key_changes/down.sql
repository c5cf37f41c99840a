DROP TABLE verifier_leases;
DROP TRIGGER workspaces_renamed;
DROP TRIGGER api_keys_deleted;
DROP TRIGGER api_keys_changed;
DROP TABLE key_changes;
ALTER TABLE api_keys DROP COLUMN rate_limit_burst;
