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
//! tests drive the clock by hand. Intervals are whole microseconds, the resolution of Redis's
//! clock, so the shared limiter (`super::shared_limits`) runs the same arithmetic on the same
//! numbers: both report through [`state_from_backlog`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

const SHARDS: usize = 16;
/// A shard larger than this sweeps itself inline before inserting.
const SHARD_SOFT_CAP: usize = 8192;
const MICROS_PER_MINUTE: u64 = 60_000_000;
const NANOS_PER_MICRO: u64 = 1_000;

/// The limit that applies to one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub per_minute: u32,
    pub burst: u32,
}

impl Quota {
    /// A key's own `per_minute` and `burst` (when set) over the global defaults. A key without
    /// its own burst may still make at least one second's worth of its rate at once, so a key
    /// allowed 100,000 a minute is not refused for 11 requests arriving together; any burst is
    /// at most the per-minute figure. Zero or negative stored values fall back to the default.
    pub fn for_key(
        default: crate::config::RateLimitSettings,
        per_minute: Option<i32>,
        burst: Option<i32>,
    ) -> Self {
        let per_minute = per_minute.filter(|n| *n > 0).map_or(default.per_minute, |n| n as u32).max(1);
        let burst = burst
            .filter(|n| *n > 0)
            .map_or_else(|| default.burst_per_second.max(per_minute.div_ceil(60)), |n| n as u32);
        Self { per_minute, burst: burst.clamp(1, per_minute) }
    }

    /// `T`, in microseconds.
    pub fn interval_micros(&self) -> u64 {
        (MICROS_PER_MINUTE / u64::from(self.per_minute)).max(1)
    }

    /// `tau`, in microseconds.
    pub fn tolerance_micros(&self) -> u64 {
        self.interval_micros() * u64::from(self.burst - 1)
    }

    fn interval(&self) -> u64 {
        self.interval_micros() * NANOS_PER_MICRO
    }

    fn tolerance(&self) -> u64 {
        self.tolerance_micros() * NANOS_PER_MICRO
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
            // Denied: nothing is taken.
            return state_from_backlog(quota, tat - now, false);
        }
        let new_tat = tat + t;
        shard.insert(key, new_tat);
        state_from_backlog(quota, new_tat - now, true)
    }

    /// [`Self::check`] when `take`, else [`Self::peek`], now.
    pub fn decide(&self, key: i64, quota: Quota, take: bool) -> RateState {
        if take { self.check(key, quota, self.now()) } else { self.peek(key, quota, self.now()) }
    }

    /// The key's state without taking anything (for refusals that come before the limit).
    pub fn peek(&self, key: i64, quota: Quota, now: u64) -> RateState {
        let tat = self.shard(key).lock().get(&key).copied().unwrap_or(now).max(now);
        state_from_backlog(quota, tat - now, true)
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

/// What a key's state is, from its backlog (`TAT - now`, in nanoseconds, never negative) after
/// a decision: after the request was let through (`allowed`), or after a refusal (which took
/// nothing, so the backlog is what refused it). A peek reports as allowed.
pub fn state_from_backlog(quota: Quota, backlog: u64, allowed: bool) -> RateState {
    let (t, tau) = (quota.interval(), quota.tolerance());
    // A request is allowed while the backlog stays within tau; each one adds t.
    let remaining = if backlog > tau { 0 } else { ((tau - backlog) / t + 1).min(u64::from(quota.burst)) };
    RateState {
        limit: quota.burst,
        remaining: remaining as u32,
        reset: ceil_secs(backlog),
        // The next request fits once the backlog is back down to tau.
        retry_after: (!allowed).then(|| ceil_secs(backlog.saturating_sub(tau)).max(1)),
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
        assert_eq!(Quota::for_key(d, None, None), Quota { per_minute: 100, burst: 10 });
        assert_eq!(Quota::for_key(d, Some(5), None), Quota { per_minute: 5, burst: 5 });
        assert_eq!(Quota::for_key(d, Some(0), None), Quota { per_minute: 100, burst: 10 });
        let rl = RateLimiter::new();
        let q = Quota::for_key(d, Some(5), None);
        for _ in 0..5 {
            assert!(rl.check(4, q, 0).allowed());
        }
        let s = rl.check(4, q, 0);
        assert_eq!(s.retry_after, Some(12));
    }

    #[test]
    fn the_default_burst_is_at_least_one_seconds_worth_of_the_rate() {
        let d = RateLimitSettings { per_minute: 100, burst_per_second: 10 };
        // ceil(6000 / 60) = 100 outweighs the global 10.
        assert_eq!(Quota::for_key(d, Some(6000), None), Quota { per_minute: 6000, burst: 100 });
        assert_eq!(Quota::for_key(d, Some(100_000), None).burst, 1667);
        assert_eq!(Quota::for_key(d, Some(61), None).burst, 10, "ceil(61 / 60) = 2 < 10");
        // The global default rate gets the same rule.
        let fast = RateLimitSettings { per_minute: 12_000, burst_per_second: 10 };
        assert_eq!(Quota::for_key(fast, None, None), Quota { per_minute: 12_000, burst: 200 });
        // Never more than the per-minute figure, never less than 1.
        let big = RateLimitSettings { per_minute: 100, burst_per_second: 500 };
        assert_eq!(Quota::for_key(big, Some(3), None), Quota { per_minute: 3, burst: 3 });
        assert_eq!(Quota::for_key(big, None, None), Quota { per_minute: 100, burst: 100 });
    }

    #[test]
    fn a_keys_own_burst_overrides_the_default_within_its_rate() {
        let d = RateLimitSettings { per_minute: 100, burst_per_second: 10 };
        assert_eq!(Quota::for_key(d, Some(6000), Some(3)), Quota { per_minute: 6000, burst: 3 });
        assert_eq!(Quota::for_key(d, None, Some(40)), Quota { per_minute: 100, burst: 40 });
        assert_eq!(Quota::for_key(d, Some(5), Some(50)), Quota { per_minute: 5, burst: 5 });
        assert_eq!(Quota::for_key(d, None, Some(1_000_000)), Quota { per_minute: 100, burst: 100 });
        assert_eq!(Quota::for_key(d, Some(6000), Some(0)), Quota { per_minute: 6000, burst: 100 });
        assert_eq!(Quota::for_key(d, Some(6000), Some(-2)), Quota { per_minute: 6000, burst: 100 });
        let rl = RateLimiter::new();
        let q = Quota::for_key(d, Some(6000), Some(3));
        for _ in 0..3 {
            assert!(rl.check(5, q, 0).allowed());
        }
        assert!(!rl.check(5, q, 0).allowed());
    }

    #[test]
    fn a_state_is_told_by_its_backlog_alone() {
        let q = Quota { per_minute: 60, burst: 3 }; // one a second, tau = 2 s
        let fresh = state_from_backlog(q, 0, true);
        assert_eq!((fresh.remaining, fresh.reset, fresh.retry_after), (3, 0, None));
        let after_one = state_from_backlog(q, SEC, true);
        assert_eq!((after_one.remaining, after_one.reset), (2, 1));
        let full = state_from_backlog(q, 3 * SEC, true);
        assert_eq!((full.remaining, full.reset), (0, 3));
        // Refused with 3.5 s of backlog: fits again once it is back to 2 s.
        let refused = state_from_backlog(q, 3 * SEC + SEC / 2, false);
        assert_eq!((refused.remaining, refused.reset, refused.retry_after), (0, 4, Some(2)));
        assert_eq!(refused.limit, 3);
        assert_eq!(refused.per_minute, 60);
    }
}
