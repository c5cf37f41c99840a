-- A key's own burst: how many requests it may make at once. NULL takes the default (at least
-- one second's worth of its per-minute rate).
ALTER TABLE api_keys ADD COLUMN rate_limit_burst INTEGER;

-- A counter that goes up with every change the verifier could have cached: a key's secret,
-- permissions, expiry, revocation, limits or names, a key's deletion, a workspace's rename.
-- The verifier keeps key records in memory while it stays the same, so commits that change no
-- key (usage counts, sign-in sessions, audit rows) no longer empty its cache. Kept by triggers,
-- so no code path that changes a key can forget it.
CREATE TABLE key_changes (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO key_changes (id, seq) VALUES (1, 0);

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

CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys
BEGIN
    UPDATE key_changes SET seq = seq + 1 WHERE id = 1;
END;

CREATE TRIGGER workspaces_renamed AFTER UPDATE OF name ON workspaces
WHEN OLD.name IS NOT NEW.name
BEGIN
    UPDATE key_changes SET seq = seq + 1 WHERE id = 1;
END;

-- PostgreSQL only: the verifier instances that keep keys in memory and must acknowledge each
-- key change before it is answered (see docs/ARCHITECTURE.md). Present here too so that both
-- backends have one schema; nothing on SQLite writes it.
CREATE TABLE verifier_leases (
    instance_id TEXT PRIMARY KEY NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    acked_seq BIGINT NOT NULL
);
