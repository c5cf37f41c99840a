//! Key records kept in memory between requests, trusted only while no key can have changed.
//!
//! The database layer vouches for that (see `db::key_changes`): a [`KeyStamp`] read without a
//! query or a system call (on SQLite the WAL-index header and the file's event count; on
//! PostgreSQL the lease keeper's generation, only while its lease is live) and, with each read,
//! the [`KeyVersion`] the read is valid under. Entries are served only under the stamp they
//! were last confirmed under. When the stamp moves, the next miss reads the database with its
//! version: the same version means the commit changed no key (a usage flush, a sign-in), and
//! every entry is confirmed under the new stamp; a greater one means a key changed, and the
//! map starts over; a smaller one comes from a reader that started before a change, and what
//! it read is thrown away. Revocation, regeneration and deletion therefore still take effect
//! on the very next request, and dropping everything on a key change leaves no per-key
//! invalidation to get wrong (key changes are rare next to verifications).
//!
//! Only found keys are kept (an unknown key is not worth memory an attacker could fill), and at
//! most [`MAX_ENTRIES`]; when full, an eighth of them (whichever the map's random order gives)
//! make room, so memory stays bounded however many keys come and go and the rest stay hot.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::db::{KeyStamp, KeyVersion};
use crate::keys::KeyHash;
use crate::keys::store::KeyRecord;

/// Room for every key of a large installation (100,000 keys with a margin: the benchmark's
/// 100,000 keys at random cost about 50 MiB more peak memory, docs/BENCHMARKS.md), so random
/// traffic over all of them is still served from memory.
pub const MAX_ENTRIES: usize = 128 * 1024;

#[derive(Default)]
pub struct KeyCache {
    map: Mutex<Entries>,
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Default)]
struct Entries {
    /// The stamp every entry was last confirmed under.
    stamp: Option<KeyStamp>,
    /// The version every entry was read under.
    version: Option<KeyVersion>,
    records: HashMap<String, Arc<KeyRecord>>,
}

/// Hits and misses since start, for tests and diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
}

impl KeyCache {
    /// The record cached for `hash`, if nothing can have changed since it was confirmed.
    pub fn get(&self, hash: &KeyHash, stamp: &KeyStamp) -> Option<Arc<KeyRecord>> {
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

    /// Keeps `record`, read after `stamp` was seen, valid under `version`.
    pub fn insert(&self, hash: &KeyHash, stamp: KeyStamp, version: KeyVersion, record: Arc<KeyRecord>) {
        let mut map = self.map.lock();
        match map.version {
            Some(v) if v > version => return, // read before a change someone else has seen
            Some(v) if v == version => {}
            _ => {
                map.records.clear();
                map.version = Some(version);
            }
        }
        // Nothing changed a key between the entries' version and this read: they all hold
        // under the stamp this reader saw.
        map.stamp = Some(stamp);
        if map.records.len() >= MAX_ENTRIES {
            let mut n = 0usize;
            map.records.retain(|_, _| {
                n += 1;
                !n.is_multiple_of(8)
            });
        }
        map.records.insert(hash.as_str().to_owned(), record);
    }

    /// The stamp and version every entry holds under, when there are any: a read made while
    /// the stamp is still this one needs no new version.
    pub fn confirmed(&self) -> Option<(KeyStamp, KeyVersion)> {
        let map = self.map.lock();
        map.stamp.zip(map.version)
    }

    /// Forgets everything (the database could not be read: what comes back may be another).
    pub fn clear(&self) {
        let mut map = self.map.lock();
        map.records = HashMap::new();
        map.stamp = None;
        map.version = None;
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
            disabled_at: None,
            rate_limit_per_minute: None,
            rate_limit_burst: None,
            replaced_until: None,
            allowed_ips: Default::default(),
        })
    }

    fn stamp(n: u64) -> KeyStamp {
        KeyStamp::Feed { generation: n }
    }

    fn version(epoch: u64, seq: i64) -> KeyVersion {
        KeyVersion::for_tests(epoch, seq)
    }

    #[test]
    fn an_entry_is_served_only_under_the_stamp_it_was_confirmed_under() {
        let cache = KeyCache::default();
        let h = KeyHash::of("a");
        cache.insert(&h, stamp(1), version(1, 5), record(7));
        assert_eq!(cache.get(&h, &stamp(1)).map(|r| r.id), Some(7));
        assert!(cache.get(&h, &stamp(2)).is_none(), "a commit happened since: not served");
        assert!(cache.get(&KeyHash::of("b"), &stamp(1)).is_none());
        assert_eq!(cache.stats(), CacheStats { hits: 1, misses: 2 });
    }

    #[test]
    fn a_commit_that_changed_no_key_keeps_every_entry() {
        let cache = KeyCache::default();
        let (a, b) = (KeyHash::of("a"), KeyHash::of("b"));
        cache.insert(&a, stamp(1), version(1, 5), record(1));
        // A usage flush moved the stamp; a miss read the same key version.
        cache.insert(&b, stamp(2), version(1, 5), record(2));
        assert_eq!(cache.get(&a, &stamp(2)).map(|r| r.id), Some(1));
        assert_eq!(cache.get(&b, &stamp(2)).map(|r| r.id), Some(2));
    }

    #[test]
    fn a_key_change_drops_every_entry_and_a_slow_reader_from_before_it_keeps_nothing() {
        let cache = KeyCache::default();
        let (a, b) = (KeyHash::of("a"), KeyHash::of("b"));
        cache.insert(&a, stamp(1), version(1, 5), record(1));
        cache.insert(&b, stamp(2), version(1, 6), record(2));
        assert_eq!(cache.len(), 1);
        assert!(cache.get(&a, &stamp(2)).is_none());
        // A reader that saw version 5 finishes late: what it read may predate change 6.
        cache.insert(&a, stamp(1), version(1, 5), record(1));
        assert!(cache.get(&a, &stamp(1)).is_none() && cache.get(&a, &stamp(2)).is_none());
        assert_eq!(cache.get(&b, &stamp(2)).map(|r| r.id), Some(2));
        // The file was moved and back (a new epoch): older versions are older whatever the seq.
        cache.insert(&a, stamp(3), version(2, 0), record(1));
        assert!(cache.get(&b, &stamp(3)).is_none());
    }

    #[test]
    fn the_map_never_grows_past_its_bound_and_a_full_map_keeps_most_entries() {
        let cache = KeyCache::default();
        for i in 0..(MAX_ENTRIES as i64 + 10) {
            cache.insert(&KeyHash::of(&i.to_string()), stamp(1), version(1, 1), record(i));
        }
        assert!(cache.len() <= MAX_ENTRIES, "{}", cache.len());
        assert!(cache.len() > MAX_ENTRIES * 3 / 4, "only an eighth made room: {}", cache.len());
    }
}
