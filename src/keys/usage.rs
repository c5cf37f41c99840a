//! Key usage as stored: counts per key and UTC day, allowed and each denial code
//! (`key_usage_daily`), the last time and address a key was allowed (`api_keys.last_used_*`),
//! and the client addresses it was presented from (`key_client_addresses`). The verifier
//! gathers [`KeyUsage`] in memory and hands it here in batches; [`clean_up`] keeps 400 days.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{api_keys, key_client_addresses, key_usage_daily};

/// How long usage rows and client addresses are kept.
pub const RETENTION_DAYS: i64 = 400;
/// Client addresses kept per key: the most recently seen ones.
pub const ADDRESSES_KEPT: i64 = 20;
/// Distinct addresses one key gathers between two flushes (about a second). The page shows 5
/// and the table keeps [`ADDRESSES_KEPT`], so the 16 most recent say everything that will be
/// kept unless more than 16 new clients appear within one second; bounding it keeps a key
/// sprayed from thousands of addresses (a leaked key) at constant memory and a constant write
/// per flush.
pub const ADDRESSES_PER_FLUSH: usize = 16;

/// What became of one presented key: the verifier's decision, by the code it is counted under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    Revoked,
    Expired,
    Disabled,
    Permission,
    RateLimited,
    IpNotAllowed,
    /// A replaced secret past its grace period (unknown to the key now), or anything newer.
    Other,
}

impl Outcome {
    /// Every outcome, in the order of [`DayCounts`]' slots.
    pub const ALL: [Outcome; 8] = [
        Self::Allowed,
        Self::Revoked,
        Self::Expired,
        Self::Disabled,
        Self::Permission,
        Self::RateLimited,
        Self::IpNotAllowed,
        Self::Other,
    ];
    /// The denial codes, in the order pages list them.
    pub const DENIALS: [Outcome; 7] = [
        Self::Revoked,
        Self::Expired,
        Self::Disabled,
        Self::Permission,
        Self::RateLimited,
        Self::IpNotAllowed,
        Self::Other,
    ];

    fn slot(self) -> usize {
        self as usize
    }

    /// The verifier's code for it (`other`: no single code).
    pub fn code(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Revoked => "revoked_key",
            Self::Expired => "expired_key",
            Self::Disabled => "disabled_key",
            Self::Permission => "insufficient_permission",
            Self::RateLimited => "rate_limited",
            Self::IpNotAllowed => "ip_not_allowed",
            Self::Other => "other",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Allowed => "Allowed",
            Self::Revoked => "Revoked",
            Self::Expired => "Expired",
            Self::Disabled => "Disabled",
            Self::Permission => "Insufficient permission",
            Self::RateLimited => "Rate limited",
            Self::IpNotAllowed => "IP not allowed",
            Self::Other => "Other",
        }
    }
}

/// One key's counts on one day, a slot per [`Outcome`]: a fixed array, so counting a request
/// allocates nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DayCounts(pub [i64; 8]);

impl DayCounts {
    pub fn count(&mut self, outcome: Outcome) {
        self.0[outcome.slot()] += 1;
    }

    pub fn set(&mut self, outcome: Outcome, n: i64) {
        self.0[outcome.slot()] = n;
    }

    pub fn get(&self, outcome: Outcome) -> i64 {
        self.0[outcome.slot()]
    }

    pub fn allowed(&self) -> i64 {
        self.get(Outcome::Allowed)
    }

    /// Every refusal, whatever its code.
    pub fn denied(&self) -> i64 {
        self.0.iter().sum::<i64>() - self.allowed()
    }

    pub fn add(&mut self, other: &DayCounts) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine += theirs;
        }
    }
}

/// What one key did, not yet written.
///
/// The verifier holds one per key used since the last flush, so a busy instance with many keys
/// holds many: a `Vec` sized exactly (nearly always one day, and one address) rather than a
/// map or a doubling `Vec`, which cost several times the memory for the same one entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyUsage {
    /// Counts per UTC day, each day once.
    pub days: Vec<(NaiveDate, DayCounts)>,
    pub last_used: Option<(NaiveDateTime, String)>,
    /// Distinct client addresses with when each was last seen, at most
    /// [`ADDRESSES_PER_FLUSH`] (the most recent).
    pub addresses: Vec<(String, NaiveDateTime)>,
}

impl KeyUsage {
    /// Notes that `ip` presented the key at `at`: its time moves forward; a new address takes a
    /// free place, or the place of the one seen longest ago (reusing its string).
    pub fn saw(&mut self, ip: &str, at: NaiveDateTime) {
        if let Some((_, seen)) = self.addresses.iter_mut().find(|(known, _)| known == ip) {
            *seen = (*seen).max(at);
            return;
        }
        if self.addresses.len() < ADDRESSES_PER_FLUSH {
            self.addresses.reserve_exact(1);
            self.addresses.push((ip.to_owned(), at));
            return;
        }
        if let Some(oldest) = self.addresses.iter_mut().min_by_key(|(_, seen)| *seen)
            && oldest.1 < at
        {
            oldest.0.clear();
            oldest.0.push_str(ip);
            oldest.1 = at;
        }
    }

    /// The counts of `day`, made when first needed.
    pub fn day_mut(&mut self, day: NaiveDate) -> &mut DayCounts {
        let at = match self.days.iter().position(|(d, _)| *d == day) {
            Some(at) => at,
            None => {
                self.days.reserve_exact(1);
                self.days.push((day, DayCounts::default()));
                self.days.len() - 1
            }
        };
        &mut self.days[at].1
    }

    pub fn day(&self, day: NaiveDate) -> Option<&DayCounts> {
        self.days.iter().find(|(d, _)| *d == day).map(|(_, counts)| counts)
    }

    /// Adds `other` in: counts summed, the later last use and address times kept.
    pub fn merge(&mut self, other: KeyUsage) {
        for (day, counts) in other.days {
            self.day_mut(day).add(&counts);
        }
        if let Some((at, ip)) = other.last_used
            && self.last_used.as_ref().is_none_or(|(mine, _)| *mine < at)
        {
            self.last_used = Some((at, ip));
        }
        for (ip, at) in other.addresses {
            self.saw(&ip, at);
        }
    }
}

/// What one flush wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlushReport {
    pub keys: usize,
    pub skipped_deleted: usize,
}

/// Adds one batch of usage: counts to `key_usage_daily`, `last_used_*` moved forward, client
/// addresses upserted (their times moved forward only) and trimmed to [`ADDRESSES_KEPT`]. Keys
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
        for (day, counts) in &usage.days {
            upsert_day(conn, id, *day, counts)?;
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
        if !usage.addresses.is_empty() {
            for (ip, at) in &usage.addresses {
                upsert_address(conn, id, ip, *at)?;
            }
            trim_addresses(conn, id)?;
        }
        report.keys += 1;
    }
    Ok(report)
}

/// Adds counts to a day's row, creating it when absent. The multi-connection DSL has no
/// ON CONFLICT, so each backend's own connection runs the same upsert.
fn upsert_day(conn: &mut DbConnection, id: i64, day: NaiveDate, c: &DayCounts) -> QueryResult<()> {
    use diesel::upsert::excluded;
    use key_usage_daily::dsl as k;
    macro_rules! upsert {
        ($c:expr) => {
            diesel::insert_into(k::key_usage_daily)
                .values((
                    k::key_id.eq(id),
                    k::day.eq(day),
                    k::allowed.eq(c.allowed()),
                    k::denied.eq(c.denied()),
                    k::denied_revoked.eq(c.get(Outcome::Revoked)),
                    k::denied_expired.eq(c.get(Outcome::Expired)),
                    k::denied_disabled.eq(c.get(Outcome::Disabled)),
                    k::denied_permission.eq(c.get(Outcome::Permission)),
                    k::denied_rate_limited.eq(c.get(Outcome::RateLimited)),
                    k::denied_ip.eq(c.get(Outcome::IpNotAllowed)),
                ))
                .on_conflict((k::key_id, k::day))
                .do_update()
                .set((
                    k::allowed.eq(k::allowed + excluded(k::allowed)),
                    k::denied.eq(k::denied + excluded(k::denied)),
                    k::denied_revoked.eq(k::denied_revoked + excluded(k::denied_revoked)),
                    k::denied_expired.eq(k::denied_expired + excluded(k::denied_expired)),
                    k::denied_disabled.eq(k::denied_disabled + excluded(k::denied_disabled)),
                    k::denied_permission.eq(k::denied_permission + excluded(k::denied_permission)),
                    k::denied_rate_limited.eq(k::denied_rate_limited + excluded(k::denied_rate_limited)),
                    k::denied_ip.eq(k::denied_ip + excluded(k::denied_ip)),
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

/// Records an address with its time, keeping the later time when the row exists (another
/// instance may have written a later one).
fn upsert_address(conn: &mut DbConnection, id: i64, ip: &str, at: NaiveDateTime) -> QueryResult<()> {
    use diesel::upsert::excluded;
    use key_client_addresses::dsl as a;
    macro_rules! upsert {
        ($c:expr) => {
            // `ON CONFLICT … DO UPDATE … WHERE`: diesel offers it as `FilterDsl` on the insert.
            diesel::query_dsl::methods::FilterDsl::filter(
                diesel::insert_into(a::key_client_addresses)
                    .values((a::key_id.eq(id), a::ip.eq(ip), a::last_seen_at.eq(at)))
                    .on_conflict((a::key_id, a::ip))
                    .do_update()
                    .set(a::last_seen_at.eq(excluded(a::last_seen_at))),
                a::last_seen_at.lt(excluded(a::last_seen_at)),
            )
            .execute($c)
        };
    }
    match conn {
        DbConnection::Postgresql(c) => upsert!(c),
        DbConnection::Sqlite(c) => upsert!(c),
    }
    .map(drop)
}

/// Keeps a key's [`ADDRESSES_KEPT`] most recently seen addresses (a walk of its primary-key
/// range, at most a flush's worth over the limit).
fn trim_addresses(conn: &mut DbConnection, id: i64) -> QueryResult<()> {
    let stale: Vec<String> = key_client_addresses::table
        .filter(key_client_addresses::key_id.eq(id))
        .order((key_client_addresses::last_seen_at.desc(), key_client_addresses::ip.asc()))
        .offset(ADDRESSES_KEPT)
        .limit(i64::MAX)
        .select(key_client_addresses::ip)
        .load(conn)?;
    if !stale.is_empty() {
        diesel::delete(
            key_client_addresses::table
                .filter(key_client_addresses::key_id.eq(id))
                .filter(key_client_addresses::ip.eq_any(stale)),
        )
        .execute(conn)?;
    }
    Ok(())
}

/// What one clean-up removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CleanUp {
    pub days: usize,
    pub addresses: usize,
}

/// Deletes usage days and client addresses older than [`RETENTION_DAYS`] as of `now`. Running
/// it twice, or on two instances at once, deletes nothing more: it is idempotent.
pub fn clean_up(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<CleanUp> {
    let cutoff = now - TimeDelta::days(RETENTION_DAYS);
    // The `key_usage_daily_by_day` index serves the range.
    let days = diesel::delete(key_usage_daily::table.filter(key_usage_daily::day.lt(cutoff.date())))
        .execute(conn)?;
    let addresses =
        diesel::delete(key_client_addresses::table.filter(key_client_addresses::last_seen_at.lt(cutoff)))
            .execute(conn)?;
    Ok(CleanUp { days, addresses })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 12, 1).unwrap().and_hms_opt(12, 0, s).unwrap()
    }

    #[test]
    fn counts_per_outcome_and_the_denied_total() {
        let mut c = DayCounts::default();
        for o in [Outcome::Allowed, Outcome::Allowed, Outcome::Revoked, Outcome::RateLimited, Outcome::Other]
        {
            c.count(o);
        }
        assert_eq!((c.allowed(), c.denied()), (2, 3));
        assert_eq!(c.get(Outcome::RateLimited), 1);
        let mut d = c;
        d.add(&c);
        assert_eq!((d.allowed(), d.denied(), d.get(Outcome::Other)), (4, 6, 2));
    }

    #[test]
    fn addresses_are_bounded_keeping_the_most_recent() {
        let mut u = KeyUsage::default();
        for i in 0..(ADDRESSES_PER_FLUSH as u32 + 4) {
            u.saw(&format!("10.0.0.{i}"), at(i));
        }
        assert_eq!(u.addresses.len(), ADDRESSES_PER_FLUSH);
        assert!(!u.addresses.iter().any(|(ip, _)| ip == "10.0.0.0" || ip == "10.0.0.3"));
        assert!(u.addresses.iter().any(|(ip, _)| ip == "10.0.0.19"));
        // A known address moves forward only.
        u.saw("10.0.0.19", at(5));
        assert_eq!(u.addresses.iter().find(|(ip, _)| ip == "10.0.0.19").unwrap().1, at(19));
        // An address older than everything kept is not worth a place.
        u.saw("192.0.2.1", at(0));
        assert!(!u.addresses.iter().any(|(ip, _)| ip == "192.0.2.1"));
    }
}
