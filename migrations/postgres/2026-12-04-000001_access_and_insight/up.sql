-- Where a key may be used and what it did: IP allowlists, usage broken down by denial code,
-- the client addresses a key was used from.

-- The addresses and CIDR ranges (IPv4 and IPv6) a key may be used from, canonical and one per
-- line; NULL: anywhere.
ALTER TABLE api_keys ADD COLUMN allowed_ips TEXT;

-- The verifier must hear of a changed allowlist (see migration key_changes).
CREATE OR REPLACE FUNCTION keyward_api_keys_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE (o.key_hash, o.permissions, o.expires_at, o.revoked_at, o.disabled_at,
               o.previous_key_hash, o.previous_expires_at, o.rate_limit_per_minute,
               o.rate_limit_burst, o.name, o.prefix, o.last4, o.workspace_id, o.allowed_ips)
          IS DISTINCT FROM
              (n.key_hash, n.permissions, n.expires_at, n.revoked_at, n.disabled_at,
               n.previous_key_hash, n.previous_expires_at, n.rate_limit_per_minute,
               n.rate_limit_burst, n.name, n.prefix, n.last4, n.workspace_id, n.allowed_ips)
    ) THEN
        PERFORM keyward_key_changed();
    END IF;
    RETURN NULL;
END $$;

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
