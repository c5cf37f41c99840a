DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
DROP TABLE webhook_endpoints;
DROP TABLE key_notices;
ALTER TABLE workspaces DROP COLUMN full_access_keys_by;
ALTER TABLE workspaces DROP COLUMN key_unused_revoke_days;
ALTER TABLE workspaces DROP COLUMN key_expiry_required_at;
ALTER TABLE workspaces DROP COLUMN key_max_lifetime_days;
CREATE OR REPLACE FUNCTION keyward_api_keys_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE (o.key_hash, o.permissions, o.expires_at, o.revoked_at, o.rate_limit_per_minute,
               o.rate_limit_burst, o.name, o.prefix, o.last4, o.workspace_id)
          IS DISTINCT FROM
              (n.key_hash, n.permissions, n.expires_at, n.revoked_at, n.rate_limit_per_minute,
               n.rate_limit_burst, n.name, n.prefix, n.last4, n.workspace_id)
    ) THEN
        PERFORM keyward_key_changed();
    END IF;
    RETURN NULL;
END $$;
DROP INDEX api_keys_by_previous_hash;
ALTER TABLE api_keys DROP COLUMN previous_expires_at;
ALTER TABLE api_keys DROP COLUMN previous_last4;
ALTER TABLE api_keys DROP COLUMN previous_key_hash;
ALTER TABLE api_keys DROP COLUMN disabled_by;
ALTER TABLE api_keys DROP COLUMN disabled_at;
ALTER TABLE api_keys DROP COLUMN description;
