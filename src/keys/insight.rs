//! What a key did and what happened to it, for its page: the key, its last 30 days of usage
//! by code, the client addresses it was last presented from, its audit history and the
//! workspace's policy. Read in one go, each part by an index (`key_usage_daily` and
//! `key_client_addresses` by their primary keys, the audit log by `audit_events_by_key`).
//!
//! The workspace-wide figures above the key table (stale, expiring, without expiry, busiest)
//! are table filters: see `store::InsightFilter`.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use super::policy::{self, Policy};
use super::store::{self, KeyRow};
use super::usage::{DayCounts, Outcome};
use crate::db::DbConnection;
use crate::db::schema::{audit_events, key_client_addresses, key_usage_daily, users};

/// Days of usage a key's page shows, today included.
pub const USAGE_DAYS: i64 = 30;
/// Client addresses a key's page lists.
pub const ADDRESSES_SHOWN: i64 = 5;
/// Audit entries a key's page lists (the whole history is the audit log's, filtered to the key).
pub const HISTORY_SHOWN: i64 = 10;

/// Audit actions that change a key, for "last changed".
const CHANGES: [&str; 8] = [
    "key.created",
    "key.updated",
    "key.permissions_changed",
    "key.regenerated",
    "key.disabled",
    "key.enabled",
    "key.revoked",
    "key.leaked",
];

/// One audit entry about the key.
#[derive(Clone, Debug, Queryable)]
pub struct HistoryEntry {
    pub at: NaiveDateTime,
    pub actor: String,
    pub action: String,
    pub details: String,
}

/// One day of usage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsageDay {
    pub day: NaiveDate,
    pub counts: DayCounts,
}

/// Everything a key's page shows.
pub struct KeyInsight {
    pub key: KeyRow,
    /// Emails of the users the key names (creator, revoker, disabler).
    pub emails: HashMap<i64, String>,
    /// The newest change to the key.
    pub last_change: Option<HistoryEntry>,
    /// The last [`USAGE_DAYS`] UTC days, oldest first, days without requests included.
    pub usage: Vec<UsageDay>,
    /// Up to [`ADDRESSES_SHOWN`] client addresses, most recently seen first.
    pub addresses: Vec<(String, NaiveDateTime)>,
    /// Up to [`HISTORY_SHOWN`] audit entries, newest first.
    pub history: Vec<HistoryEntry>,
    pub policy: Policy,
}

/// Reads a key's page, or `None` when the workspace has no such key.
pub fn key_insight(
    conn: &mut DbConnection,
    workspace_id: i64,
    id: i64,
    now: NaiveDateTime,
) -> QueryResult<Option<KeyInsight>> {
    let Some(key) = store::find(conn, workspace_id, id)? else { return Ok(None) };
    let mut ids: Vec<i64> = [key.created_by, key.revoked_by, key.disabled_by].into_iter().flatten().collect();
    ids.dedup();
    let emails = users::table
        .filter(users::id.eq_any(ids))
        .select((users::id, users::email))
        .load::<(i64, String)>(conn)?
        .into_iter()
        .collect();
    let of_key = || {
        audit_events::table
            .filter(audit_events::workspace_id.eq(workspace_id))
            .filter(audit_events::key_id.eq(id))
            .order(audit_events::id.desc())
            .select((audit_events::at, audit_events::actor, audit_events::action, audit_events::details))
    };
    let history = of_key().limit(HISTORY_SHOWN).load::<HistoryEntry>(conn)?;
    let last_change = match history.iter().find(|e| CHANGES.contains(&e.action.as_str())) {
        Some(e) => Some(e.clone()),
        None => of_key().filter(audit_events::action.eq_any(CHANGES.to_vec())).first(conn).optional()?,
    };
    let addresses = key_client_addresses::table
        .filter(key_client_addresses::key_id.eq(id))
        .order((key_client_addresses::last_seen_at.desc(), key_client_addresses::ip.asc()))
        .limit(ADDRESSES_SHOWN)
        .select((key_client_addresses::ip, key_client_addresses::last_seen_at))
        .load(conn)?;
    let usage = usage_days(conn, id, now.date())?;
    let policy = policy::read(conn, workspace_id)?;
    Ok(Some(KeyInsight { key, emails, last_change, usage, addresses, history, policy }))
}

type StoredDay = (NaiveDate, i64, i64, i64, i64, i64, i64, i64, i64);

/// The key's last [`USAGE_DAYS`] days up to `today`, oldest first, zero days filled in.
pub fn usage_days(conn: &mut DbConnection, id: i64, today: NaiveDate) -> QueryResult<Vec<UsageDay>> {
    let first = today - TimeDelta::days(USAGE_DAYS - 1);
    let rows: Vec<StoredDay> = key_usage_daily::table
        .filter(key_usage_daily::key_id.eq(id))
        .filter(key_usage_daily::day.ge(first))
        .filter(key_usage_daily::day.le(today))
        .select((
            key_usage_daily::day,
            key_usage_daily::allowed,
            key_usage_daily::denied,
            key_usage_daily::denied_revoked,
            key_usage_daily::denied_expired,
            key_usage_daily::denied_disabled,
            key_usage_daily::denied_permission,
            key_usage_daily::denied_rate_limited,
            key_usage_daily::denied_ip,
        ))
        .load(conn)?;
    let stored: HashMap<NaiveDate, DayCounts> = rows.into_iter().map(|r| (r.0, counts_of(r))).collect();
    Ok(first
        .iter_days()
        .take(USAGE_DAYS as usize)
        .map(|day| UsageDay { day, counts: stored.get(&day).copied().unwrap_or_default() })
        .collect())
}

/// A stored day as counts: what the per-code columns leave of the denied total is "other" (a
/// replaced secret past its grace, or days counted before the columns existed).
fn counts_of((_, allowed, denied, revoked, expired, disabled, permission, rate, ip): StoredDay) -> DayCounts {
    let mut c = DayCounts::default();
    let known = [
        (Outcome::Allowed, allowed),
        (Outcome::Revoked, revoked),
        (Outcome::Expired, expired),
        (Outcome::Disabled, disabled),
        (Outcome::Permission, permission),
        (Outcome::RateLimited, rate),
        (Outcome::IpNotAllowed, ip),
    ];
    for (o, n) in known {
        c.set(o, n);
    }
    c.set(Outcome::Other, (denied - (revoked + expired + disabled + permission + rate + ip)).max(0));
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_code_columns_leave_is_other() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let c = counts_of((d, 5, 10, 1, 1, 1, 1, 1, 1));
        assert_eq!((c.allowed(), c.denied(), c.get(Outcome::Other)), (5, 10, 4));
        // Days from before the split: every denial is "other".
        let old = counts_of((d, 3, 7, 0, 0, 0, 0, 0, 0));
        assert_eq!((old.denied(), old.get(Outcome::Other)), (7, 7));
    }
}
