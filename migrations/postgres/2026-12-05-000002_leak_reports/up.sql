-- What a leak report does to a key of the workspace (POST /api/v1/leaks): 'revoke' it (the
-- default: final, the secret never works again) or 'disable' it (an owner may enable it again).
ALTER TABLE workspaces ADD COLUMN key_leak_action TEXT NOT NULL DEFAULT 'revoke'
    CHECK (key_leak_action IN ('revoke', 'disable'));
