//! Key usage gathered in memory and written in batches, so a verification never waits for a
//! database write.
//!
//! Per key: counts per UTC day (allowed, and each denial code), the last time and IP address
//! it was allowed, and the client addresses it was presented from (allowed or refused; at most
//! `ADDRESSES_PER_FLUSH`, the most recent). [`UsageBuffer::flush`] swaps the buffer out and
//! writes it in one transaction: counts are added to `key_usage_daily` (an upsert),
//! `api_keys.last_used_*` and the addresses' times are moved forward. Keys deleted in the
//! meantime are skipped. If the write fails (the database is down) the counts go back into the
//! buffer for the next attempt, so nothing is lost; the buffer holds at most one entry per key
//! and day.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use parking_lot::Mutex;

use super::error::Denial;
use crate::db::{Db, DbError};
use crate::keys::usage::{FlushReport, KeyUsage, Outcome, write_batch};

/// The code a decision is counted under.
pub fn outcome(result: &Result<(), Denial>) -> Outcome {
    match result {
        Ok(()) => Outcome::Allowed,
        Err(Denial::RevokedKey) => Outcome::Revoked,
        Err(Denial::ExpiredKey) => Outcome::Expired,
        Err(Denial::DisabledKey) => Outcome::Disabled,
        Err(Denial::InsufficientPermission(_)) => Outcome::Permission,
        Err(Denial::RateLimited { .. }) => Outcome::RateLimited,
        Err(Denial::IpNotAllowed(_)) => Outcome::IpNotAllowed,
        Err(_) => Outcome::Other,
    }
}

/// What the request path writes into, and the flusher drains.
#[derive(Default)]
pub struct UsageBuffer {
    pending: Mutex<HashMap<i64, KeyUsage>>,
    /// Only one flush at a time, so the final flush at shutdown waits for a running one.
    flushing: Mutex<()>,
}

impl UsageBuffer {
    /// Counts one decision about a known key under its code, and notes the client's address.
    /// Allowed requests also move `last_used` forward.
    pub fn record(&self, key_id: i64, result: &Result<(), Denial>, now: NaiveDateTime, ip: Option<&str>) {
        let outcome = outcome(result);
        let mut pending = self.pending.lock();
        let entry = pending.entry(key_id).or_default();
        entry.day_mut(now.date()).count(outcome);
        if let Some(ip) = ip {
            entry.saw(ip, now);
        }
        if outcome == Outcome::Allowed && entry.last_used.as_ref().is_none_or(|(at, _)| *at <= now) {
            let ip = ip.unwrap_or("");
            match &mut entry.last_used {
                // Reuse the string when the address is the same (the common case).
                Some((at, old)) if old == ip => *at = now,
                other => *other = Some((now, ip.to_owned())),
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pending.lock().is_empty()
    }

    fn take(&self) -> HashMap<i64, KeyUsage> {
        std::mem::take(&mut *self.pending.lock())
    }

    fn put_back(&self, batch: HashMap<i64, KeyUsage>) {
        let mut pending = self.pending.lock();
        for (id, usage) in batch {
            pending.entry(id).or_default().merge(usage);
        }
    }

    /// Writes everything gathered so far in one transaction. Call from a blocking thread.
    pub fn flush(&self, db: &Db) -> Result<FlushReport, DbError> {
        let _one_at_a_time = self.flushing.lock();
        let batch = self.take();
        if batch.is_empty() {
            return Ok(FlushReport::default());
        }
        match db.write_blocking(|conn| write_batch(conn, &batch).map_err(DbError::from)) {
            Ok(report) => Ok(report),
            Err(e) => {
                self.put_back(batch);
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    fn at(day: u32, h: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, day).unwrap().and_hms_opt(h, 0, 0).unwrap()
    }

    const OK: Result<(), Denial> = Ok(());
    const LACKING: Result<(), Denial> = Err(Denial::InsufficientPermission(Vec::new()));

    fn pair(c: &crate::keys::usage::DayCounts) -> (i64, i64) {
        (c.allowed(), c.denied())
    }

    #[test]
    fn counts_split_by_day_and_last_use_moves_forward_only() {
        let buf = UsageBuffer::default();
        buf.record(1, &OK, at(22, 23), Some("10.0.0.1"));
        buf.record(1, &LACKING, at(22, 23), Some("10.0.0.1"));
        buf.record(1, &OK, at(23, 1), Some("10.0.0.2"));
        // A late-arriving earlier request does not move last_used back.
        buf.record(1, &OK, at(23, 0), Some("10.0.0.3"));
        let taken = buf.take();
        let u = &taken[&1];
        assert_eq!(pair(u.day(at(22, 0).date()).unwrap()), (1, 1));
        assert_eq!(u.day(at(22, 0).date()).unwrap().get(Outcome::Permission), 1);
        assert_eq!(pair(u.day(at(23, 0).date()).unwrap()), (2, 0));
        assert_eq!(u.last_used, Some((at(23, 1), "10.0.0.2".to_owned())));
        assert_eq!(u.addresses.len(), 3);
        assert!(buf.is_empty());
    }

    #[test]
    fn each_denial_is_counted_under_its_code() {
        let buf = UsageBuffer::default();
        let denials = [
            (Denial::RevokedKey, Outcome::Revoked),
            (Denial::ExpiredKey, Outcome::Expired),
            (Denial::DisabledKey, Outcome::Disabled),
            (Denial::InsufficientPermission(vec!["a:b".into()]), Outcome::Permission),
            (Denial::RateLimited { retry_after: 1 }, Outcome::RateLimited),
            (Denial::IpNotAllowed(None), Outcome::IpNotAllowed),
            (Denial::UnknownKey, Outcome::Other),
        ];
        for (denial, _) in &denials {
            buf.record(1, &Err(denial.clone()), at(22, 1), None);
        }
        let taken = buf.take();
        let day = *taken[&1].day(at(22, 0).date()).unwrap();
        for (_, o) in denials {
            assert_eq!(day.get(o), 1, "{o:?}");
        }
        assert_eq!(pair(&day), (0, 7));
        assert_eq!(taken[&1].last_used, None, "a refusal is no use");
        assert!(taken[&1].addresses.is_empty());
    }

    #[test]
    fn a_failed_batch_is_merged_back() {
        let buf = UsageBuffer::default();
        buf.record(1, &OK, at(22, 1), Some("a"));
        let batch = buf.take();
        buf.record(1, &OK, at(22, 2), Some("b"));
        buf.record(1, &LACKING, at(22, 2), None);
        buf.put_back(batch);
        let u = &buf.take()[&1];
        assert_eq!(pair(u.day(at(22, 0).date()).unwrap()), (2, 1));
        assert_eq!(u.last_used, Some((at(22, 2), "b".to_owned())));
        assert_eq!(u.addresses, vec![("b".to_owned(), at(22, 2)), ("a".to_owned(), at(22, 1))]);
    }
}
