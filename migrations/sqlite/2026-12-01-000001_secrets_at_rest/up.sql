-- Sign-in sessions are stored by the SHA-256 of their id, so a copy of the database holds no
-- id a cookie could carry. Ids stored in the clear before cannot be hashed in SQL on every
-- backend: those sessions end, and everyone signs in once more.
DELETE FROM user_sessions;

-- The cookie key now lives outside the database (KEYWARD_SECRET_KEY_FILE, or a file beside a
-- SQLite database): one kept here would let a copy of the database forge cookies and read a
-- pending reveal.
DELETE FROM instance_settings WHERE name = 'cookie_key';

-- When the current secret was shown on its reveal page. Claiming the one showing is a single
-- conditional UPDATE of this column, atomic on both backends; create and regenerate leave it
-- NULL. Keys issued before this column were shown (or never will be): marked as shown.
ALTER TABLE api_keys ADD COLUMN revealed_at TIMESTAMP;
UPDATE api_keys SET revealed_at = COALESCE(regenerated_at, created_at);
