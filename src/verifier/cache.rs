//! Key records kept in memory between requests, trusted only while the database has not
//! changed.
//!
//! Every entry was read after the database's [`ChangeStamp`] was seen with a given value; the
//! map is valid for exactly that stamp. Any commit by anyone (a revocation in the console, a
//! second keyward on the same database, the usage flusher) changes the stamp, so the next
//! lookup finds a different one, drops the whole map and reads the database again.
//! Revocation, regeneration and deletion therefore still take effect on the very next request.
//! Writes are rare next to verifications, so dropping everything on any commit costs little
//! and leaves no per-key invalidation to get wrong.
//!
//! Where the database gives no stamp (PostgreSQL), nothing is cached.
//!
//! Only found keys are kept (an unknown key is not worth memory an attacker could fill), and at
//! most [`MAX_ENTRIES`]; when full, the map starts over, so memory stays bounded however many
//! keys come and go.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::db::ChangeStamp;
use crate::keys::KeyHash;
use crate::keys::store::KeyRecord;

/// About 400 bytes each with the hash: at most a few megabytes.
pub const MAX_ENTRIES: usize = 20_000;

#[derive(Default)]
pub struct KeyCache {
    map: Mutex<Entries>,
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Default)]
struct Entries {
    stamp: Option<ChangeStamp>,
    records: HashMap<String, Arc<KeyRecord>>,
}

/// Hits and misses since start, for tests and diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
}

impl KeyCache {
    /// The record cached for `hash`, if the database is still as it was when it was read.
    pub fn get(&self, hash: &KeyHash, stamp: &ChangeStamp) -> Option<Arc<KeyRecord>> {
        let map = self.map.lock();
        let found = match map.stamp.as_ref() {
            Some(s) if s == stamp => map.records.get(hash.as_str()).cloned(),
            _ => None,
        };
        drop(map);
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Keeps `record`, read from the database after `stamp` was seen.
    pub fn insert(&self, hash: &KeyHash, stamp: ChangeStamp, record: Arc<KeyRecord>) {
        let mut map = self.map.lock();
        if map.stamp != Some(stamp) {
            // Entries under another stamp are either stale or (if `stamp` is the older one)
            // about to be; either way none may be served under this one.
            map.records.clear();
            map.stamp = Some(stamp);
        }
        if map.records.len() >= MAX_ENTRIES {
            map.records.clear();
        }
        map.records.insert(hash.as_str().to_owned(), record);
    }

    /// Forgets everything (the database could not be read: what comes back may be another).
    pub fn clear(&self) {
        let mut map = self.map.lock();
        map.records = HashMap::new();
        map.stamp = None;
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats { hits: self.hits.load(Ordering::Relaxed), misses: self.misses.load(Ordering::Relaxed) }
    }

    pub fn len(&self) -> usize {
        self.map.lock().records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PermissionSet;

    fn record(id: i64) -> Arc<KeyRecord> {
        Arc::new(KeyRecord {
            id,
            workspace_id: 1,
            workspace_name: "Acme".into(),
            name: "bot".into(),
            prefix: "kw_live_".into(),
            last4: "ABCD".into(),
            permissions: PermissionSet::from_stored("*"),
            expires_at: None,
            revoked_at: None,
            rate_limit_per_minute: None,
        })
    }

    fn stamp(n: u8) -> ChangeStamp {
        ChangeStamp::for_tests(n)
    }

    #[test]
    fn an_entry_is_served_only_under_the_stamp_it_was_read_under() {
        let cache = KeyCache::default();
        let h = KeyHash::of("a");
        cache.insert(&h, stamp(1), record(7));
        assert_eq!(cache.get(&h, &stamp(1)).map(|r| r.id), Some(7));
        assert!(cache.get(&h, &stamp(2)).is_none(), "a commit happened since: not served");
        assert!(cache.get(&KeyHash::of("b"), &stamp(1)).is_none());
        assert_eq!(cache.stats(), CacheStats { hits: 1, misses: 2 });
    }

    #[test]
    fn a_newer_stamp_drops_every_older_entry_and_an_older_one_drops_the_newer() {
        let cache = KeyCache::default();
        let (a, b) = (KeyHash::of("a"), KeyHash::of("b"));
        cache.insert(&a, stamp(1), record(1));
        cache.insert(&b, stamp(2), record(2));
        assert_eq!(cache.len(), 1);
        assert!(cache.get(&a, &stamp(2)).is_none());
        // A slow reader that saw stamp 1 finishes late: what it read may predate the commit.
        cache.insert(&a, stamp(1), record(1));
        assert!(cache.get(&b, &stamp(2)).is_none() && cache.get(&a, &stamp(2)).is_none());
    }

    #[test]
    fn the_map_never_grows_past_its_bound() {
        let cache = KeyCache::default();
        for i in 0..(MAX_ENTRIES as i64 + 10) {
            cache.insert(&KeyHash::of(&i.to_string()), stamp(1), record(i));
        }
        assert!(cache.len() <= MAX_ENTRIES, "{}", cache.len());
        assert!(!cache.is_empty());
    }
}
