-- The management API: tokens that let scripts manage a workspace's keys, and the answers to
-- requests sent with an Idempotency-Key.

-- A token is `kw_mgmt_` + 32 random base62 characters + a 6-character checksum, stored like an
-- API key: only its SHA-256 and its last four characters.
CREATE TABLE management_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    last4 TEXT NOT NULL,
    -- Space-separated: keys:read, keys:write, members:read.
    scopes TEXT NOT NULL,
    created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    -- Who created it, as the list shows it even after that account is gone.
    created_by_label TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    last_used_at TIMESTAMP,
    revoked_at TIMESTAMP,
    revoked_by BIGINT REFERENCES users(id) ON DELETE SET NULL
);
CREATE INDEX management_tokens_by_workspace ON management_tokens (workspace_id);

-- The first answer to a create or regenerate sent with an Idempotency-Key, replayed to a retry
-- with the same key. The answer holds a new secret, so it is sealed with the instance's secret
-- key (AES-256-GCM): a copy of the database alone does not yield it. Kept 24 hours.
CREATE TABLE idempotent_requests (
    token_id BIGINT NOT NULL REFERENCES management_tokens(id) ON DELETE CASCADE,
    idempotency_key TEXT NOT NULL,
    -- SHA-256 of the method, path and body: the same key with another request is refused.
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    sealed_body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (token_id, idempotency_key)
);
CREATE INDEX idempotent_requests_by_age ON idempotent_requests (created_at);
