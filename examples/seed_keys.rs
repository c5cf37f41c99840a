//! Seeds a database with many API keys for the benchmark (`bench/verify.sh`).
//!
//! `seed_keys DATABASE_URL COUNT KEYS_FILE KEEP`: creates COUNT keys in a workspace "Bench",
//! all with full access and a rate limit too high to matter, and writes the first KEEP keys
//! (plaintext, one per line) to KEYS_FILE with mode 0600 for the load generator. Nothing is
//! printed but counts: keys never reach a log.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use chrono::Utc;
use diesel::prelude::*;
use keyward::accounts::store;
use keyward::config::{DatabaseUrl, Settings};
use keyward::db::schema::api_keys;
use keyward::db::{DbConnection, DbError};
use keyward::keys::ApiKey;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, count, file, keep] = &args[..] else {
        return Err("usage: seed_keys DATABASE_URL COUNT KEYS_FILE KEEP".into());
    };
    let count: usize = count.parse().map_err(|_| "COUNT must be a number")?;
    let keep: usize = keep.parse().map_err(|_| "KEEP must be a number")?;
    let settings = Settings::new(DatabaseUrl::parse(url).map_err(|e| e.to_string())?);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let (db, _) = rt.block_on(keyward::startup::open_database(&settings)).map_err(|e| e.to_string())?;

    let keys: Vec<ApiKey> = (0..count).map(|_| ApiKey::generate(keyward::keys::Environment::Live)).collect();
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(file)
        .map_err(|e| format!("{file}: {e}"))?;
    for k in keys.iter().take(keep) {
        writeln!(out, "{}", k.expose()).map_err(|e| e.to_string())?;
    }
    let rows: Vec<(String, String)> =
        keys.iter().map(|k| (k.hash().as_str().to_owned(), k.last4().to_owned())).collect();
    db.write_blocking(|conn: &mut DbConnection| -> Result<(), DbError> {
        let now = Utc::now().naive_utc();
        let ws = store::insert_workspace(conn, "Bench", now)?;
        for (i, (hash, last4)) in rows.iter().enumerate() {
            diesel::insert_into(api_keys::table)
                .values((
                    api_keys::workspace_id.eq(ws),
                    api_keys::name.eq(format!("bench {i}")),
                    api_keys::search_name.eq(format!("bench {i}")),
                    api_keys::prefix.eq("kw_live_"),
                    api_keys::last4.eq(last4),
                    api_keys::key_hash.eq(hash),
                    api_keys::permissions.eq("*"),
                    api_keys::expiry_rule.eq("never"),
                    api_keys::created_at.eq(now),
                    api_keys::rate_limit_per_minute.eq(Some(2_000_000_000)),
                ))
                .execute(conn)?;
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    println!("seeded {count} keys; {keep} written to the keys file");
    Ok(())
}
