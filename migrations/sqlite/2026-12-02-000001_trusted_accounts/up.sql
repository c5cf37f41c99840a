-- Accounts an admin can trust: invitations instead of passwords chosen by others, password
-- resets, two-factor sign-in, and sessions a user can see and end.

-- An invitation to join a workspace. The link's token is stored only as its SHA-256, like a
-- session id; the invitee becomes a member only when they accept it.
CREATE TABLE invitations (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'viewer')),
    token_hash TEXT NOT NULL UNIQUE,
    invited_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    accepted_at TIMESTAMP,
    accepted_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX invitations_by_workspace ON invitations (workspace_id, created_at);

-- A single-use link that sets a new password, started by an owner (requested_by) or by the
-- operator on the server (requested_by NULL). Stored by the SHA-256 of its token.
CREATE TABLE password_resets (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    requested_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX password_resets_by_user ON password_resets (user_id);

-- Two-factor sign-in. totp_secret is encrypted with the instance's secret key; it is set
-- while enrolment is pending and counts only once totp_enabled_at is set. totp_last_step is
-- the 30-second step of the last accepted code, so a code is never accepted twice.
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN totp_enabled_at TIMESTAMP;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT;
ALTER TABLE users ADD COLUMN password_changed_at TIMESTAMP;

-- Ten single-use codes for a lost authenticator, stored by their SHA-256.
CREATE TABLE recovery_codes (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at TIMESTAMP,
    PRIMARY KEY (user_id, code_hash)
);

-- What the sessions page shows of each session, and when its user last proved who they are
-- (signing in counts): sensitive changes ask again once that is over ten minutes old.
ALTER TABLE user_sessions ADD COLUMN ip TEXT;
ALTER TABLE user_sessions ADD COLUMN user_agent TEXT;
ALTER TABLE user_sessions ADD COLUMN confirmed_at TIMESTAMP;
UPDATE user_sessions SET confirmed_at = created_at;

-- Set while the workspace requires two-factor sign-in of every member.
ALTER TABLE workspaces ADD COLUMN two_factor_required_at TIMESTAMP;
