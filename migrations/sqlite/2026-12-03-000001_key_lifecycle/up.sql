-- The key lifecycle: rotation with a grace period, descriptions, disabling, workspace policies,
-- expiry reminders and signed webhooks.

-- A note on where the key is used.
ALTER TABLE api_keys ADD COLUMN description TEXT NOT NULL DEFAULT '';
-- A reversible stop, distinct from revocation (final).
ALTER TABLE api_keys ADD COLUMN disabled_at TIMESTAMP;
ALTER TABLE api_keys ADD COLUMN disabled_by BIGINT REFERENCES users(id) ON DELETE SET NULL;
-- Rotation with a grace period: the replaced secret's hash keeps verifying until
-- previous_expires_at (never after the key's own expiry); revoking the key ends it too.
ALTER TABLE api_keys ADD COLUMN previous_key_hash TEXT;
ALTER TABLE api_keys ADD COLUMN previous_last4 TEXT;
ALTER TABLE api_keys ADD COLUMN previous_expires_at TIMESTAMP;
CREATE UNIQUE INDEX api_keys_by_previous_hash ON api_keys (previous_key_hash)
    WHERE previous_key_hash IS NOT NULL;

-- The verifier must hear of the new columns it reads (see migration key_changes).
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

-- Workspace policies, set by owners. NULL: no rule.
ALTER TABLE workspaces ADD COLUMN key_max_lifetime_days INTEGER;
ALTER TABLE workspaces ADD COLUMN key_expiry_required_at TIMESTAMP;
ALTER TABLE workspaces ADD COLUMN key_unused_revoke_days INTEGER;
-- Who may create keys with full access: 'owners' or 'admins' (owners and admins).
ALTER TABLE workspaces ADD COLUMN full_access_keys_by TEXT NOT NULL DEFAULT 'admins'
    CHECK (full_access_keys_by IN ('owners', 'admins'));

-- A notice about a key (expiring in 7 days, in 1 day, expired; unused and about to be
-- revoked), recorded by the instance that sends it. The primary key makes each notice once,
-- whichever instance gets there first; `about` is the moment it concerns (the expiry, or the
-- last use), so a key given a new expiry is reminded again.
CREATE TABLE key_notices (
    key_id BIGINT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    about TIMESTAMP NOT NULL,
    sent_at TIMESTAMP NOT NULL,
    PRIMARY KEY (key_id, kind, about)
);

-- Where a workspace's events go. The signing secret is sealed with the instance's secret key.
CREATE TABLE webhook_endpoints (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    disabled_at TIMESTAMP,
    disabled_reason TEXT,
    -- The first failure since the last success; 24 hours of failures disable the endpoint.
    failing_since TIMESTAMP,
    -- A delivery is in flight until then, claimed by one instance: at most one per endpoint.
    busy_until TIMESTAMP
);
CREATE INDEX webhook_endpoints_by_workspace ON webhook_endpoints (workspace_id);

-- The outbox: every event, written in the transaction of the change it reports.
CREATE TABLE webhook_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    message_id TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- One event to one endpoint: pending until it succeeds, or until 24 hours of retries fail.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    event_id BIGINT NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
    endpoint_id BIGINT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP,
    last_attempt_at TIMESTAMP,
    response_status INTEGER,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id);
