//! The verifier: the machine side of keyward. Services and reverse proxies ask it whether a
//! key may be used; it answers in microseconds from one indexed lookup per request (on SQLite
//! from memory while no key has changed, see [`cache`]; revocation, regeneration and
//! deletion take effect on the very next request on every instance), a per-key rate limiter
//! in memory, and a usage buffer written in batches.
//!
//! - [`extract`]: reading the key and required permissions from a request (no database).
//! - [`decision`]: the ordered checks on a looked-up key (the lookup is `keys::store::find_by_hash`).
//! - [`cache`]: key records in memory while the database layer vouches that no key changed.
//! - [`ratelimit`]: per-key GCRA.
//! - [`shared_limits`]: the same GCRA in Redis, so a key's limit holds across instances.
//! - [`usage`]: the usage buffer and its batch writer.
//! - [`routes`]: `POST /api/v1/keys/verify`, `GET /api/v1/auth`, `GET /api/v1/whoami`.
//! - [`leaks`]: `POST /api/v1/leaks`, secret scanners' reports of keys found in public.

pub mod cache;
pub mod decision;
pub mod error;
pub mod extract;
pub mod leaks;
pub mod ratelimit;
pub mod routes;
pub mod shared_limits;
pub mod usage;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::config::RateLimitSettings;
use crate::db::{Db, DbError};
use crate::keys::ApiKey;
use crate::keys::store::{self, KeyRecord};
use crate::metrics::Metrics;
use cache::KeyCache;
pub use error::Denial;
use ratelimit::{Quota, RateLimiter, RateState};
use shared_limits::SharedLimiter;
use usage::UsageBuffer;

/// The verifier's long-lived state, shared by every worker.
pub struct Verifier {
    db: Db,
    pub cache: KeyCache,
    pub limiter: RateLimiter,
    pub usage: UsageBuffer,
    defaults: RateLimitSettings,
    /// Limits shared with the other instances; `None`: counted here alone.
    pub shared: Option<SharedLimiter>,
    pub metrics: Arc<Metrics>,
}

/// The verdict on one presented key, with what the response needs to show.
#[derive(Debug)]
pub struct Outcome {
    pub record: Option<Arc<KeyRecord>>,
    pub rate: Option<RateState>,
    pub result: Result<(), Denial>,
}

impl Verifier {
    pub fn new(
        db: Db,
        defaults: RateLimitSettings,
        shared: Option<SharedLimiter>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            db,
            cache: KeyCache::default(),
            limiter: RateLimiter::new(),
            usage: UsageBuffer::default(),
            defaults,
            shared,
            metrics,
        }
    }

    /// Looks the key up and decides. Only reads: usage is buffered, never written here.
    pub async fn check(&self, key: ApiKey, required: &[String], ip: Option<&str>) -> Outcome {
        let record = match self.lookup(&key).await {
            Ok(r) => r,
            Err(_) => return Outcome { record: None, rate: None, result: Err(Denial::Unavailable) },
        };
        let now = Utc::now().naive_utc();
        let mut result = decision::decide(record.as_deref(), required, now);
        let Some(rec) = record else { return Outcome { record: None, rate: None, result } };
        // After the key's own checks and before its rate limit, so a refused address takes
        // nothing from the key's allowance.
        if result.is_ok() && !rec.allowed_ips.permits(ip) {
            result = Err(Denial::IpNotAllowed(ip.map(str::to_owned)));
        }
        let quota = Quota::for_key(self.defaults, rec.rate_limit_per_minute, rec.rate_limit_burst);
        // A key refused before its limit only looks at its allowance; a good one takes from it.
        let take = result.is_ok();
        let rate = match &self.shared {
            None => self.limiter.decide(rec.id, quota, take),
            // Redis failing or slow never refuses a key: this instance decides alone.
            Some(shared) => match shared.check(rec.id, quota, take).await {
                Some(state) => state,
                None => self.limiter.decide(rec.id, quota, take),
            },
        };
        if let Some(retry_after) = rate.retry_after {
            result = Err(Denial::RateLimited { retry_after });
        }
        self.usage.record(rec.id, &result, now, ip);
        Outcome { record: Some(rec), rate: Some(rate), result }
    }
}

impl Verifier {
    /// The record cached under the database's current stamp, or one indexed read by hash. A
    /// database that is gone (a missing SQLite file) gives no stamp and fails the read, so a
    /// verifier never keeps saying yes from memory once its database has vanished.
    async fn lookup(&self, key: &ApiKey) -> Result<Option<Arc<KeyRecord>>, DbError> {
        let hash = key.hash();
        if let Some(hit) = self.db.key_stamp().and_then(|s| self.cache.get(&hash, &s)) {
            self.metrics.cache_hit();
            return Ok(Some(hit));
        }
        self.metrics.cache_miss();
        let read_hash = hash.clone();
        let known = self.cache.confirmed();
        let read = self.db.point_read_keys(known, move |conn| store::find_by_hash(conn, &read_hash)).await;
        let (validity, found) = match read {
            Ok((validity, found)) => (validity, found.map(Arc::new)),
            Err(e) => {
                // What the database holds when it is back may not be what was cached.
                self.cache.clear();
                return Err(e);
            }
        };
        if let (Some((stamp, version)), Some(record)) = (validity, &found) {
            self.cache.insert(&hash, stamp, version, record.clone());
        }
        Ok(found)
    }
}

/// Writes buffered usage every `interval` and sweeps idle rate-limit entries, until stopped.
/// The returned handle stops the loop; call [`Verifier::flush_now`] afterwards for the rest.
pub fn spawn_flusher(verifier: Arc<Verifier>, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let v = verifier.clone();
            let _ = tokio::task::spawn_blocking(move || v.flush_blocking()).await;
        }
    })
}

impl Verifier {
    /// One flush on the current (blocking) thread, logging rather than returning failures.
    pub fn flush_blocking(&self) {
        self.limiter.sweep(self.limiter.now());
        let started = std::time::Instant::now();
        match self.usage.flush(&self.db) {
            Ok(report) => {
                if report.skipped_deleted > 0 {
                    tracing::debug!(skipped = report.skipped_deleted, "usage for deleted keys dropped");
                }
                // An idle tick writes nothing and is not a flush worth timing.
                if report.keys + report.skipped_deleted > 0 {
                    self.metrics.usage_flush(started.elapsed(), true);
                }
            }
            Err(error) => {
                self.metrics.usage_flush(started.elapsed(), false);
                tracing::warn!(%error, "key usage not written yet; will retry")
            }
        }
    }

    /// Flushes once from async code (at shutdown).
    pub async fn flush_now(self: &Arc<Self>) {
        let v = self.clone();
        let _ = tokio::task::spawn_blocking(move || v.flush_blocking()).await;
    }
}
