DROP TABLE key_client_addresses;
DROP INDEX key_usage_daily_by_day;
ALTER TABLE key_usage_daily DROP COLUMN denied_ip;
ALTER TABLE key_usage_daily DROP COLUMN denied_rate_limited;
ALTER TABLE key_usage_daily DROP COLUMN denied_permission;
ALTER TABLE key_usage_daily DROP COLUMN denied_disabled;
ALTER TABLE key_usage_daily DROP COLUMN denied_expired;
ALTER TABLE key_usage_daily DROP COLUMN denied_revoked;
DROP TRIGGER api_keys_changed;
CREATE TRIGGER api_keys_changed AFTER UPDATE ON api_keys
WHEN OLD.key_hash IS NOT NEW.key_hash
  OR OLD.permissions IS NOT NEW.permissions
  OR OLD.expires_at IS NOT NEW.expires_at
  OR OLD.revoked_at IS NOT NEW.revoked_at
  OR OLD.disabled_at IS NOT NEW.disabled_at
  OR OLD.previous_key_hash IS NOT NEW.previous_key_hash
  OR OLD.previous_expires_at IS NOT NEW.previous_expires_at
  OR OLD.rate_limit_per_minute IS NOT NEW.rate_limit_per_minute
  OR OLD.rate_limit_burst IS NOT NEW.rate_limit_burst
  OR OLD.name IS NOT NEW.name
  OR OLD.prefix IS NOT NEW.prefix
  OR OLD.last4 IS NOT NEW.last4
  OR OLD.workspace_id IS NOT NEW.workspace_id
BEGIN
    UPDATE key_changes SET seq = seq + 1 WHERE id = 1;
END;
ALTER TABLE api_keys DROP COLUMN allowed_ips;
