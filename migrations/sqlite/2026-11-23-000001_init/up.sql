-- Times are UTC, stored as TIMESTAMP text; ids are 64-bit integers. Both choices keep one
-- diesel schema valid for SQLite and PostgreSQL alike.
CREATE TABLE instance_settings (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE workspaces (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE memberships (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'viewer')),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, workspace_id)
);
CREATE INDEX memberships_by_workspace ON memberships (workspace_id);

-- One row per signed-in browser. The cookie names the row, so signing out (or an expired row)
-- makes a copied cookie worthless even though the cookie itself is still well-formed.
CREATE TABLE user_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX user_sessions_by_user ON user_sessions (user_id);

CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    last4 TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    permissions TEXT NOT NULL,
    expiry_rule TEXT NOT NULL,
    created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    revoked_at TIMESTAMP,
    revoked_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    last_used_at TIMESTAMP,
    last_used_ip TEXT,
    rate_limit_per_minute INTEGER,
    regenerated_at TIMESTAMP
);
CREATE INDEX api_keys_by_workspace ON api_keys (workspace_id, id);
CREATE INDEX api_keys_by_workspace_status ON api_keys (workspace_id, revoked_at, expires_at);
CREATE INDEX api_keys_by_workspace_name ON api_keys (workspace_id, name);

CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    workspace_id BIGINT REFERENCES workspaces(id) ON DELETE CASCADE,
    at TIMESTAMP NOT NULL,
    actor_id BIGINT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    key_id BIGINT,
    key_name TEXT,
    key_masked TEXT,
    ip TEXT,
    user_agent TEXT,
    details TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_by_workspace_time ON audit_events (workspace_id, at, id);
CREATE INDEX audit_events_by_key ON audit_events (workspace_id, key_id, id);

CREATE TABLE key_usage_daily (
    key_id BIGINT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    day DATE NOT NULL,
    allowed BIGINT NOT NULL DEFAULT 0,
    denied BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, day)
);
