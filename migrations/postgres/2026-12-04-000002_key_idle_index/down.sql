DROP INDEX api_keys_idle;
