-- Where a key may be used and what it did: IP allowlists, usage broken down by denial code,
-- the client addresses a key was used from.

-- The addresses and CIDR ranges (IPv4 and IPv6) a key may be used from, canonical and one per
-- line; NULL: anywhere.
ALTER TABLE api_keys ADD COLUMN allowed_ips TEXT;

-- The verifier must hear of a changed allowlist (see migration key_changes).
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
  OR OLD.allowed_ips IS NOT NEW.allowed_ips
BEGIN
    UPDATE key_changes SET seq = seq + 1 WHERE id = 1;
END;

-- The daily denied count split by code. `denied` stays the total; what the columns below do not
-- account for is a replaced secret presented after its grace period (and days counted before
-- this migration).
ALTER TABLE key_usage_daily ADD COLUMN denied_revoked BIGINT NOT NULL DEFAULT 0;
ALTER TABLE key_usage_daily ADD COLUMN denied_expired BIGINT NOT NULL DEFAULT 0;
ALTER TABLE key_usage_daily ADD COLUMN denied_disabled BIGINT NOT NULL DEFAULT 0;
ALTER TABLE key_usage_daily ADD COLUMN denied_permission BIGINT NOT NULL DEFAULT 0;
ALTER TABLE key_usage_daily ADD COLUMN denied_rate_limited BIGINT NOT NULL DEFAULT 0;
ALTER TABLE key_usage_daily ADD COLUMN denied_ip BIGINT NOT NULL DEFAULT 0;
-- Usage is kept 400 days; the daily clean-up deletes by day.
CREATE INDEX key_usage_daily_by_day ON key_usage_daily (day);

-- The client addresses a key was used from (allowed or refused), and when each was last seen.
CREATE TABLE key_client_addresses (
    key_id BIGINT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    ip TEXT NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    PRIMARY KEY (key_id, ip)
);
