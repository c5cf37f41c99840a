ALTER TABLE workspaces DROP COLUMN key_leak_action;
