-- The key table's name search matches `search_name`: the name lower-cased by keyward itself
-- (`keys::search_form`, Unicode-aware and independent of the database's locale), written with
-- the key; names never change afterwards. A plain column also gives the planner statistics
-- for `search_name LIKE '%word%'`, which it had none of for `lower(name)` (it guessed 32
-- matches for 16,667 and sorted them all).
ALTER TABLE api_keys ADD COLUMN search_name TEXT;
-- Folded by the server's locale here; `db::run_migrations` re-folds in Rust right after.
UPDATE api_keys SET search_name = lower(name);
ALTER TABLE api_keys ALTER COLUMN search_name SET NOT NULL;
-- Trigram index: `LIKE '%word%'` with 3 or more characters reads only the candidate rows.
-- pg_trgm is a trusted extension (PostgreSQL 13+): the database's owner may create it.
-- fastupdate = off: keys arrive one at a time, so updating the index on insert costs
-- nothing noticeable, while the default pending list (flushed only by (auto)vacuum) is read
-- in full by every search: 2 ms after 100,000 inserts, more with autovacuum off.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX api_keys_search_trgm ON api_keys USING gin (search_name gin_trgm_ops)
    WITH (fastupdate = off);
