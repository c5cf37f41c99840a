//! Key usage as stored: allowed/denied counts per key and UTC day (`key_usage_daily`) and the
//! last time and address a key was allowed (`api_keys.last_used_*`). The verifier gathers
//! [`KeyUsage`] in memory and hands it here in batches.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{api_keys, key_usage_daily};

/// What one key did, not yet written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyUsage {
    /// (allowed, denied) per UTC day.
    pub days: HashMap<NaiveDate, (i64, i64)>,
    pub last_used: Option<(NaiveDateTime, String)>,
}

impl KeyUsage {
    /// Adds `other` in: counts summed, the later last use kept.
    pub fn merge(&mut self, other: KeyUsage) {
        for (day, (a, d)) in other.days {
            let slot = self.days.entry(day).or_default();
            slot.0 += a;
            slot.1 += d;
        }
        if let Some((at, ip)) = other.last_used
            && self.last_used.as_ref().is_none_or(|(mine, _)| *mine < at)
        {
            self.last_used = Some((at, ip));
        }
    }
}

/// What one flush wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlushReport {
    pub keys: usize,
    pub skipped_deleted: usize,
}

/// Adds one batch of usage: counts to `key_usage_daily`, `last_used_*` moved forward. Keys
/// deleted since are skipped and counted. Call inside one transaction.
pub fn write_batch(conn: &mut DbConnection, batch: &HashMap<i64, KeyUsage>) -> QueryResult<FlushReport> {
    let ids: Vec<i64> = batch.keys().copied().collect();
    let mut existing: Vec<i64> = Vec::with_capacity(ids.len());
    // Bounded IN lists: SQLite caps bound parameters.
    for chunk in ids.chunks(500) {
        existing.extend(
            api_keys::table.filter(api_keys::id.eq_any(chunk)).select(api_keys::id).load::<i64>(conn)?,
        );
    }
    let mut report = FlushReport { keys: 0, skipped_deleted: ids.len() - existing.len() };
    for id in existing {
        let usage = &batch[&id];
        for (day, (allowed, denied)) in &usage.days {
            upsert_day(conn, id, *day, *allowed, *denied)?;
        }
        if let Some((at, ip)) = &usage.last_used {
            // Never move the time backwards (another instance may have written a later one).
            diesel::update(
                api_keys::table
                    .find(id)
                    .filter(api_keys::last_used_at.is_null().or(api_keys::last_used_at.lt(*at))),
            )
            .set((api_keys::last_used_at.eq(*at), api_keys::last_used_ip.eq(ip)))
            .execute(conn)?;
        }
        report.keys += 1;
    }
    Ok(report)
}

/// Adds counts to a day's row, creating it when absent. The multi-connection DSL has no
/// ON CONFLICT, so each backend's own connection runs the same upsert.
fn upsert_day(
    conn: &mut DbConnection,
    id: i64,
    day: NaiveDate,
    allowed: i64,
    denied: i64,
) -> QueryResult<()> {
    use diesel::upsert::excluded;
    use key_usage_daily::dsl as k;
    macro_rules! upsert {
        ($c:expr) => {
            diesel::insert_into(k::key_usage_daily)
                .values((k::key_id.eq(id), k::day.eq(day), k::allowed.eq(allowed), k::denied.eq(denied)))
                .on_conflict((k::key_id, k::day))
                .do_update()
                .set((
                    k::allowed.eq(k::allowed + excluded(k::allowed)),
                    k::denied.eq(k::denied + excluded(k::denied)),
                ))
                .execute($c)
        };
    }
    match conn {
        DbConnection::Postgresql(c) => upsert!(c),
        DbConnection::Sqlite(c) => upsert!(c),
    }
    .map(drop)
}
