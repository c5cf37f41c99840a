-- The key table's name search matches `search_name`: the name lower-cased by keyward itself
-- (`keys::search_form`, Unicode-aware), written with the key; names never change afterwards.
-- Why a stored column and not `lower(name)` at query time: SQLite's lower() folds ASCII only
-- ("Ärger" was not found by "är"), and calling it on every row made a search with few
-- matches cost ~90 ms at 100,000 keys.
ALTER TABLE api_keys ADD COLUMN search_name TEXT NOT NULL DEFAULT '';
-- ASCII folding only; `db::run_migrations` re-folds the other names in Rust right after
-- (through the update trigger below, so the full-text index follows).
UPDATE api_keys SET search_name = lower(name);

-- Searches of 3 or more characters: a trigram full-text index over search_name. A quoted
-- FTS5 phrase of trigrams matches exactly the rows containing that substring, so a rare word
-- reads a handful of rows instead of the whole workspace (~30-45 ms even from an index at
-- 100,000 keys). case_sensitive 1: search_name is already folded, the same way as the query.
-- External content (the text lives only in api_keys); the triggers keep it in step.
CREATE VIRTUAL TABLE api_keys_fts USING fts5(
    search_name,
    content = 'api_keys',
    content_rowid = 'id',
    tokenize = 'trigram case_sensitive 1'
);
INSERT INTO api_keys_fts (api_keys_fts) VALUES ('rebuild');
CREATE TRIGGER api_keys_fts_insert AFTER INSERT ON api_keys BEGIN
    INSERT INTO api_keys_fts (rowid, search_name) VALUES (new.id, new.search_name);
END;
CREATE TRIGGER api_keys_fts_delete AFTER DELETE ON api_keys BEGIN
    INSERT INTO api_keys_fts (api_keys_fts, rowid, search_name)
        VALUES ('delete', old.id, old.search_name);
END;
CREATE TRIGGER api_keys_fts_update AFTER UPDATE OF search_name ON api_keys BEGIN
    INSERT INTO api_keys_fts (api_keys_fts, rowid, search_name)
        VALUES ('delete', old.id, old.search_name);
    INSERT INTO api_keys_fts (rowid, search_name) VALUES (new.id, new.search_name);
END;

-- Searches of 1 or 2 characters (too short for trigrams) walk the workspace newest first;
-- with search_name in the index, that walk reads a table row only for a match.
CREATE INDEX api_keys_search ON api_keys (workspace_id, id, search_name);
