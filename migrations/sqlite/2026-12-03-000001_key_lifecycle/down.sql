DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
DROP TABLE webhook_endpoints;
DROP TABLE key_notices;
ALTER TABLE workspaces DROP COLUMN full_access_keys_by;
ALTER TABLE workspaces DROP COLUMN key_unused_revoke_days;
ALTER TABLE workspaces DROP COLUMN key_expiry_required_at;
ALTER TABLE workspaces DROP COLUMN key_max_lifetime_days;
DROP TRIGGER api_keys_changed;
CREATE TRIGGER api_keys_changed AFTER UPDATE ON api_keys
WHEN OLD.key_hash IS NOT NEW.key_hash
  OR OLD.permissions IS NOT NEW.permissions
  OR OLD.expires_at IS NOT NEW.expires_at
  OR OLD.revoked_at IS NOT NEW.revoked_at
  OR OLD.rate_limit_per_minute IS NOT NEW.rate_limit_per_minute
  OR OLD.rate_limit_burst IS NOT NEW.rate_limit_burst
  OR OLD.name IS NOT NEW.name
  OR OLD.prefix IS NOT NEW.prefix
  OR OLD.last4 IS NOT NEW.last4
  OR OLD.workspace_id IS NOT NEW.workspace_id
BEGIN
    UPDATE key_changes SET seq = seq + 1 WHERE id = 1;
END;
DROP INDEX api_keys_by_previous_hash;
ALTER TABLE api_keys DROP COLUMN previous_expires_at;
ALTER TABLE api_keys DROP COLUMN previous_last4;
ALTER TABLE api_keys DROP COLUMN previous_key_hash;
ALTER TABLE api_keys DROP COLUMN disabled_by;
ALTER TABLE api_keys DROP COLUMN disabled_at;
ALTER TABLE api_keys DROP COLUMN description;
