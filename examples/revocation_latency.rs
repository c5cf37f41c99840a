//! How long a revocation takes to be answered while other instances serve from memory (for
//! `bench/verify.sh`): `revocation_latency DATABASE_URL COUNT` creates COUNT keys in a
//! workspace "Revocations", revokes them one by one through the domain operation (which, on
//! PostgreSQL, returns only once every instance with a live lease has acknowledged the
//! change), and prints the p50, p99 and largest time in milliseconds.

use std::time::Instant;

use chrono::Utc;
use diesel::prelude::*;
use keyward::accounts::store;
use keyward::audit::Actor;
use keyward::config::{DatabaseUrl, Settings};
use keyward::db::schema::api_keys;
use keyward::db::{DbConnection, DbError};
use keyward::keys::ApiKey;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, count] = &args[..] else {
        return Err("usage: revocation_latency DATABASE_URL COUNT".into());
    };
    let count: usize = count.parse().map_err(|_| "COUNT must be a number")?;
    let settings = Settings::new(DatabaseUrl::parse(url).map_err(|e| e.to_string())?);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let (db, _) = rt.block_on(keyward::startup::open_database(&settings)).map_err(|e| e.to_string())?;
    let (ws, ids) = db
        .write_blocking(|conn: &mut DbConnection| -> Result<(i64, Vec<i64>), DbError> {
            let now = Utc::now().naive_utc();
            let ws = store::insert_workspace(conn, "Revocations", now)?;
            let mut ids = Vec::new();
            for i in 0..count {
                let key = ApiKey::generate(keyward::keys::Environment::Live);
                let id = diesel::insert_into(api_keys::table)
                    .values((
                        api_keys::workspace_id.eq(ws),
                        api_keys::name.eq(format!("revoked {i}")),
                        api_keys::search_name.eq(format!("revoked {i}")),
                        api_keys::prefix.eq("kw_live_"),
                        api_keys::last4.eq(key.last4()),
                        api_keys::key_hash.eq(key.hash().as_str()),
                        api_keys::permissions.eq("*"),
                        api_keys::expiry_rule.eq("never"),
                        api_keys::created_at.eq(now),
                    ))
                    .returning(api_keys::id)
                    .get_result(conn)?;
                ids.push(id);
            }
            Ok((ws, ids))
        })
        .map_err(|e| e.to_string())?;
    let actor = Actor { user_id: None, label: "system".into(), ip: None, user_agent: None };
    let mut took: Vec<f64> = Vec::with_capacity(count);
    for id in ids {
        let started = Instant::now();
        rt.block_on(keyward::keys::ops::revoke(&db, &actor, ws, id)).map_err(|e| e.to_string())?;
        took.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    took.sort_by(f64::total_cmp);
    let at = |q: f64| took[((took.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{} revocations: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        took.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
    Ok(())
}
