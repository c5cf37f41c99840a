DROP TABLE key_client_addresses;
DROP INDEX key_usage_daily_by_day;
ALTER TABLE key_usage_daily DROP COLUMN denied_ip;
ALTER TABLE key_usage_daily DROP COLUMN denied_rate_limited;
ALTER TABLE key_usage_daily DROP COLUMN denied_permission;
ALTER TABLE key_usage_daily DROP COLUMN denied_disabled;
ALTER TABLE key_usage_daily DROP COLUMN denied_expired;
ALTER TABLE key_usage_daily DROP COLUMN denied_revoked;
CREATE OR REPLACE FUNCTION keyward_api_keys_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE (o.key_hash, o.permissions, o.expires_at, o.revoked_at, o.disabled_at,
               o.previous_key_hash, o.previous_expires_at, o.rate_limit_per_minute,
               o.rate_limit_burst, o.name, o.prefix, o.last4, o.workspace_id)
          IS DISTINCT FROM
              (n.key_hash, n.permissions, n.expires_at, n.revoked_at, n.disabled_at,
               n.previous_key_hash, n.previous_expires_at, n.rate_limit_per_minute,
               n.rate_limit_burst, n.name, n.prefix, n.last4, n.workspace_id)
    ) THEN
        PERFORM keyward_key_changed();
    END IF;
    RETURN NULL;
END $$;
ALTER TABLE api_keys DROP COLUMN allowed_ips;
