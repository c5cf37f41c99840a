DROP TABLE key_usage_daily;
DROP TABLE audit_events;
DROP TABLE api_keys;
DROP TABLE user_sessions;
DROP TABLE memberships;
DROP TABLE users;
DROP TABLE workspaces;
DROP TABLE instance_settings;
