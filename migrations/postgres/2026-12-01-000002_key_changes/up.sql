-- A key's own burst: how many requests it may make at once. NULL takes the default (at least
-- one second's worth of its per-minute rate).
ALTER TABLE api_keys ADD COLUMN rate_limit_burst INTEGER;

-- A counter that goes up with every change a verifier could have cached: a key's secret,
-- permissions, expiry, revocation, limits or names, a key's deletion, a workspace's rename.
-- The same trigger announces the change (NOTIFY, delivered at commit) to every instance that
-- keeps keys in memory, and records its number for the changing transaction, which waits for
-- every live instance to acknowledge it before it answers (see docs/ARCHITECTURE.md).
CREATE TABLE key_changes (
    id BIGINT PRIMARY KEY NOT NULL CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO key_changes (id, seq) VALUES (1, 0);

-- The instances that serve keys from memory: each renews its lease every few hundred
-- milliseconds and records the last change it has applied.
CREATE TABLE verifier_leases (
    instance_id TEXT PRIMARY KEY NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    acked_seq BIGINT NOT NULL
);

CREATE FUNCTION keyward_key_changed() RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    n BIGINT;
BEGIN
    UPDATE key_changes SET seq = seq + 1 WHERE id = 1 RETURNING seq INTO n;
    PERFORM set_config('keyward.key_change', n::text, true);
    PERFORM pg_notify('keyward_key_changes', n::text);
    RETURN n;
END $$;

-- Statement triggers over transition tables: one bump per statement, however many rows
-- (deleting a workspace with many keys), and none for statements that touch only other
-- columns (the usage writer's last-used times).
CREATE FUNCTION keyward_api_keys_updated() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE FUNCTION keyward_api_keys_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM old_rows) THEN
        PERFORM keyward_key_changed();
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION keyward_workspaces_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE o.name IS DISTINCT FROM n.name
    ) THEN
        PERFORM keyward_key_changed();
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER api_keys_changed AFTER UPDATE ON api_keys
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION keyward_api_keys_updated();
CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION keyward_api_keys_deleted();
CREATE TRIGGER workspaces_renamed AFTER UPDATE ON workspaces
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION keyward_workspaces_updated();
