//! Per-key rate limiting with GCRA (the generic cell rate algorithm).
//!
//! Each key keeps one number: its theoretical arrival time (TAT). A key limited to `per_minute`
//! requests has an emission interval `T = 60 s / per_minute`; a burst of `burst` requests is
//! allowed at once (`tau = (burst - 1) T`), after which requests are let through one every `T`.
//! With the defaults (100/min, burst 10) a key may make 10 requests at once, then one every
//! 0.6 s.
//!
//! Memory stays bounded: an entry whose TAT has passed is indistinguishable from a fresh key, so
//! [`RateLimiter::sweep`] removes it without changing any future decision. Only keys seen within
//! the last `burst × T` seconds hold memory.
//!
//! Time is a number of nanoseconds since the limiter's epoch, passed in by the caller, so the
//! tests drive the clock by hand.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

const SHARDS: usize = 16;
/// A shard larger than this sweeps itself inline before inserting.
const SHARD_SOFT_CAP: usize = 8192;
const NANOS_PER_MINUTE: u64 = 60_000_000_000;

/// The limit that applies to one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub per_minute: u32,
    pub burst: u32,
}

impl Quota {
    /// A key's own `per_minute` (when set) over the global default; the burst never exceeds
    /// the per-minute figure. Zero or negative stored values fall back to the default.
    pub fn for_key(default: crate::config::RateLimitSettings, per_key: Option<i32>) -> Self {
        let per_minute = per_key.filter(|n| *n > 0).map_or(default.per_minute, |n| n as u32).max(1);
        Self { per_minute, burst: default.burst_per_second.clamp(1, per_minute) }
    }

    fn interval(&self) -> u64 {
        (NANOS_PER_MINUTE / u64::from(self.per_minute)).max(1)
    }

    fn tolerance(&self) -> u64 {
        self.interval() * u64::from(self.burst - 1)
    }
}

/// What the `RateLimit-*` headers report for a key after a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateState {
    /// The most requests available at once (the burst).
    pub limit: u32,
    /// Requests that would be allowed right now.
    pub remaining: u32,
    /// Whole seconds until the full burst is available again.
    pub reset: u64,
    /// When denied: whole seconds (at least 1) until the next request will be allowed.
    pub retry_after: Option<u64>,
    pub per_minute: u32,
}

impl RateState {
    pub fn allowed(&self) -> bool {
        self.retry_after.is_none()
    }
}

/// The per-key GCRA state, sharded by key id.
pub struct RateLimiter {
    shards: Vec<Mutex<HashMap<i64, u64>>>,
    epoch: Instant,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl RateLimiter {
    pub fn new() -> Self {
        Self { shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(), epoch: Instant::now() }
    }

    /// Nanoseconds since this limiter started: the production clock.
    pub fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    fn shard(&self, key: i64) -> &Mutex<HashMap<i64, u64>> {
        &self.shards[(key as u64 as usize) % SHARDS]
    }

    /// Takes one request from the key's allowance if there is one.
    pub fn check(&self, key: i64, quota: Quota, now: u64) -> RateState {
        let (t, tau) = (quota.interval(), quota.tolerance());
        let mut shard = self.shard(key).lock();
        if shard.len() >= SHARD_SOFT_CAP {
            shard.retain(|_, tat| *tat > now);
        }
        let tat = shard.get(&key).copied().unwrap_or(now).max(now);
        if tat - now > tau {
            // Denied: nothing is taken; the next request fits once `tat - tau` is reached.
            let wait = tat - now - tau;
            let mut state = state_for(quota, tat, now);
            state.retry_after = Some(ceil_secs(wait).max(1));
            return state;
        }
        let new_tat = tat + t;
        shard.insert(key, new_tat);
        state_for(quota, new_tat, now)
    }

    /// The key's state without taking anything (for refusals that come before the limit).
    pub fn peek(&self, key: i64, quota: Quota, now: u64) -> RateState {
        let tat = self.shard(key).lock().get(&key).copied().unwrap_or(now).max(now);
        state_for(quota, tat, now)
    }

    /// Forgets keys whose allowance is full again. Exact: such a key behaves as new.
    pub fn sweep(&self, now: u64) {
        for shard in &self.shards {
            shard.lock().retain(|_, tat| *tat > now);
        }
    }

    /// Keys currently held in memory.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn state_for(quota: Quota, tat: u64, now: u64) -> RateState {
    let (t, tau) = (quota.interval(), quota.tolerance());
    let backlog = tat - now;
    // A request is allowed while the backlog stays within tau; each one adds t.
    let remaining = if backlog > tau { 0 } else { ((tau - backlog) / t + 1).min(u64::from(quota.burst)) };
    RateState {
        limit: quota.burst,
        remaining: remaining as u32,
        reset: ceil_secs(backlog),
        retry_after: None,
        per_minute: quota.per_minute,
    }
}

fn ceil_secs(nanos: u64) -> u64 {
    Duration::from_nanos(nanos).as_secs() + u64::from(!nanos.is_multiple_of(1_000_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RateLimitSettings;

    const SEC: u64 = 1_000_000_000;
    const DEFAULT: Quota = Quota { per_minute: 100, burst: 10 };

    #[test]
    fn a_fresh_key_gets_its_burst_then_is_refused() {
        let rl = RateLimiter::new();
        let now = 5 * SEC;
        for i in 0..10 {
            let s = rl.check(1, DEFAULT, now);
            assert!(s.allowed(), "request {i} refused");
            assert_eq!(s.remaining, 9 - i);
            assert_eq!(s.limit, 10);
        }
        let s = rl.check(1, DEFAULT, now);
        assert!(!s.allowed());
        assert_eq!(s.remaining, 0);
        // One request every 0.6 s: the next fits in 0.6 s, reported as 1 whole second.
        assert_eq!(s.retry_after, Some(1));
        // Ten intervals of 0.6 s = 6 s until the whole burst is back.
        assert_eq!(s.reset, 6);
    }

    #[test]
    fn the_allowance_refills_at_the_sustained_rate() {
        let rl = RateLimiter::new();
        let mut now = 0;
        for _ in 0..10 {
            assert!(rl.check(7, DEFAULT, now).allowed());
        }
        assert!(!rl.check(7, DEFAULT, now).allowed());
        now += SEC / 2; // 0.5 s < 0.6 s: still refused
        assert!(!rl.check(7, DEFAULT, now).allowed());
        now += SEC / 10; // 0.6 s: exactly one more
        assert!(rl.check(7, DEFAULT, now).allowed());
        assert!(!rl.check(7, DEFAULT, now).allowed());
        // Over one minute of steady use, at most burst + 100 requests get through.
        let mut allowed = 0;
        let start = now;
        while now < start + 60 * SEC {
            if rl.check(8, DEFAULT, now).allowed() {
                allowed += 1;
            }
            now += SEC / 100;
        }
        assert!((100..=110).contains(&allowed), "{allowed}");
    }

    #[test]
    fn keys_are_independent_and_refusals_take_nothing() {
        let rl = RateLimiter::new();
        for _ in 0..10 {
            rl.check(1, DEFAULT, 0);
        }
        for _ in 0..50 {
            assert!(!rl.check(1, DEFAULT, 0).allowed());
        }
        assert!(rl.check(2, DEFAULT, 0).allowed());
        // Refusals did not push the key further back.
        assert!(rl.check(1, DEFAULT, 600_000_000).allowed());
    }

    #[test]
    fn retry_after_is_whole_seconds_and_honest() {
        let rl = RateLimiter::new();
        let slow = Quota { per_minute: 2, burst: 1 };
        assert!(rl.check(3, slow, 0).allowed());
        let s = rl.check(3, slow, 0);
        assert_eq!(s.retry_after, Some(30));
        assert!(!rl.check(3, slow, 29 * SEC + SEC / 2).allowed());
        assert!(rl.check(3, slow, 30 * SEC).allowed());
    }

    #[test]
    fn peek_reports_without_taking() {
        let rl = RateLimiter::new();
        assert_eq!(rl.peek(9, DEFAULT, 0).remaining, 10);
        rl.check(9, DEFAULT, 0);
        for _ in 0..5 {
            assert_eq!(rl.peek(9, DEFAULT, 0).remaining, 9);
        }
    }

    #[test]
    fn idle_keys_are_swept_and_memory_stays_bounded() {
        let rl = RateLimiter::new();
        for key in 0..1000 {
            rl.check(key, DEFAULT, 0);
        }
        assert_eq!(rl.len(), 1000);
        rl.sweep(SEC / 2);
        assert_eq!(rl.len(), 1000, "entries still inside their interval are kept");
        rl.sweep(SEC);
        assert!(rl.is_empty());
        // Churn through many keys: shards sweep themselves inline past their cap.
        for key in 0..(SHARDS as i64 * SHARD_SOFT_CAP as i64 * 3) {
            rl.check(key, DEFAULT, key as u64 * SEC);
        }
        assert!(rl.len() <= SHARDS * (SHARD_SOFT_CAP + 1), "{}", rl.len());
    }

    #[test]
    fn per_key_limits_override_the_default() {
        let d = RateLimitSettings { per_minute: 100, burst_per_second: 10 };
        assert_eq!(Quota::for_key(d, None), Quota { per_minute: 100, burst: 10 });
        assert_eq!(Quota::for_key(d, Some(5)), Quota { per_minute: 5, burst: 5 });
        assert_eq!(Quota::for_key(d, Some(6000)), Quota { per_minute: 6000, burst: 10 });
        assert_eq!(Quota::for_key(d, Some(0)), Quota { per_minute: 100, burst: 10 });
        let rl = RateLimiter::new();
        let q = Quota::for_key(d, Some(5));
        for _ in 0..5 {
            assert!(rl.check(4, q, 0).allowed());
        }
        let s = rl.check(4, q, 0);
        assert_eq!(s.retry_after, Some(12));
    }
}
