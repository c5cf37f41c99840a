//! Sign-in throttling, in memory. Failures are counted per email and per client address;
//! past half the limit each attempt is slowed, and at the limit the key is refused until the
//! window has passed. A successful sign-in clears the email's count.
//!
//! An attempt is counted when it *starts* (before the password is checked) and refunded if it
//! succeeds, so a burst of concurrent guesses cannot slip past the limit while argon2 runs.
//! Memory is bounded: each table keeps at most [`MAX_TRACKED`] keys, dropping stale ones first
//! and then the oldest.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::config::LoginThrottleSettings;

/// Most keys remembered per table (emails, addresses).
pub const MAX_TRACKED: usize = 10_000;

#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Attempts counted in the current window (failures and ones still being checked).
    count: u32,
    /// When the window began (the first counted attempt).
    since: Instant,
    /// Set once `count` reaches the limit: refused until then.
    locked_until: Option<Instant>,
}

/// Counts for one kind of key.
struct Table {
    limit: u32,
    entries: HashMap<String, Entry>,
}

/// Why an attempt may not go ahead, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    /// How long until the key may try again.
    pub retry_after: Duration,
}

/// An attempt that was counted; hand it back through [`LoginThrottle::succeeded`] on success.
#[derive(Debug)]
pub struct Attempt {
    email: String,
    ip: Option<String>,
    /// How long to hold the attempt before checking the password.
    pub delay: Duration,
}

/// The per-email and per-address failure counters, shared by every worker.
pub struct LoginThrottle {
    settings: LoginThrottleSettings,
    tables: Mutex<(Table, Table)>,
}

impl LoginThrottle {
    pub fn new(settings: LoginThrottleSettings) -> Self {
        let emails = Table { limit: settings.max_failures_per_email.max(1), entries: HashMap::new() };
        let ips = Table { limit: settings.max_failures_per_ip.max(1), entries: HashMap::new() };
        Self { settings, tables: Mutex::new((emails, ips)) }
    }

    /// Counts an attempt for `email` (normalised) from `ip`, or refuses it.
    pub fn begin(&self, email: &str, ip: Option<&str>) -> Result<Attempt, Refused> {
        self.begin_at(email, ip, Instant::now())
    }

    fn begin_at(&self, email: &str, ip: Option<&str>, now: Instant) -> Result<Attempt, Refused> {
        let window = self.settings.window;
        let mut guard = self.tables.lock();
        let (emails, ips) = &mut *guard;
        // Both keys are checked before either is counted, so a refusal counts nothing.
        let mut wait = Duration::ZERO;
        wait = wait.max(emails.refusal(email, now, window));
        if let Some(ip) = ip {
            wait = wait.max(ips.refusal(ip, now, window));
        }
        if !wait.is_zero() {
            return Err(Refused { retry_after: wait });
        }
        let mut over = emails.count(email, now, window);
        if let Some(ip) = ip {
            over = over.max(ips.count(ip, now, window));
        }
        let delay = self.settings.slowdown.saturating_mul(over).min(MAX_DELAY);
        Ok(Attempt { email: email.to_owned(), ip: ip.map(str::to_owned), delay })
    }

    /// The attempt signed in: the email starts afresh and the address gets its attempt back.
    pub fn succeeded(&self, attempt: Attempt) {
        let mut guard = self.tables.lock();
        let (emails, ips) = &mut *guard;
        emails.entries.remove(&attempt.email);
        if let Some(ip) = attempt.ip
            && let Some(e) = ips.entries.get_mut(&ip)
        {
            e.count = e.count.saturating_sub(1);
            if e.count < ips.limit {
                e.locked_until = None;
            }
        }
    }

    /// How many keys are remembered (emails, addresses): for tests of the memory bound.
    pub fn tracked(&self) -> (usize, usize) {
        let guard = self.tables.lock();
        (guard.0.entries.len(), guard.1.entries.len())
    }
}

/// The longest a single attempt is held back.
const MAX_DELAY: Duration = Duration::from_secs(3);

impl Table {
    /// How long `key` must still wait (zero when it may try).
    fn refusal(&mut self, key: &str, now: Instant, window: Duration) -> Duration {
        let Some(e) = self.entries.get(key) else { return Duration::ZERO };
        match e.locked_until {
            Some(until) if until > now => until - now,
            Some(_) => {
                self.entries.remove(key);
                Duration::ZERO
            }
            None if now.duration_since(e.since) >= window => {
                self.entries.remove(key);
                Duration::ZERO
            }
            None => Duration::ZERO,
        }
    }

    /// Counts one attempt; returns how far past half the limit the key now is (for slowing).
    fn count(&mut self, key: &str, now: Instant, window: Duration) -> u32 {
        if !self.entries.contains_key(key) && self.entries.len() >= MAX_TRACKED {
            self.make_room(now, window);
        }
        let limit = self.limit;
        let e =
            self.entries.entry(key.to_owned()).or_insert(Entry { count: 0, since: now, locked_until: None });
        e.count += 1;
        if e.count >= limit {
            e.locked_until = Some(now + window);
        }
        e.count.saturating_sub(limit / 2)
    }

    /// Drops entries whose window has passed; if none has, the oldest.
    fn make_room(&mut self, now: Instant, window: Duration) {
        self.entries.retain(|_, e| match e.locked_until {
            Some(until) => until > now,
            None => now.duration_since(e.since) < window,
        });
        if self.entries.len() >= MAX_TRACKED
            && let Some(oldest) = self.entries.iter().min_by_key(|(_, e)| e.since).map(|(k, _)| k.clone())
        {
            self.entries.remove(&oldest);
        }
    }
}

/// Says when to try again, in words: "in 15 minutes", "in 40 seconds".
pub fn describe_wait(wait: Duration) -> String {
    let secs = wait.as_secs().max(1);
    if secs < 60 {
        format!("in {secs} second{}", if secs == 1 { "" } else { "s" })
    } else {
        let mins = secs.div_ceil(60);
        format!("in {mins} minute{}", if mins == 1 { "" } else { "s" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(per_email: u32, per_ip: u32) -> LoginThrottle {
        LoginThrottle::new(LoginThrottleSettings {
            max_failures_per_email: per_email,
            max_failures_per_ip: per_ip,
            window: Duration::from_secs(900),
            slowdown: Duration::from_millis(250),
        })
    }

    #[test]
    fn the_sixth_attempt_for_an_email_is_refused_until_the_window_passes() {
        let t = throttle(5, 100);
        let start = Instant::now();
        let delays: Vec<Duration> =
            (0..5).map(|_| t.begin_at("a@x.io", Some("1.2.3.4"), start).unwrap().delay).collect();
        assert_eq!(delays[0], Duration::ZERO);
        assert!(delays[4] > delays[2] && delays[2] > Duration::ZERO, "{delays:?}");
        let refused = t.begin_at("a@x.io", Some("5.6.7.8"), start + Duration::from_secs(60)).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(840));
        // Another email from the same address is not affected by this email's lock.
        assert!(t.begin_at("b@x.io", Some("1.2.3.4"), start).is_ok());
        assert!(t.begin_at("a@x.io", None, start + Duration::from_secs(901)).is_ok());
    }

    #[test]
    fn an_address_is_refused_after_its_own_limit_across_emails() {
        let t = throttle(5, 3);
        let now = Instant::now();
        for i in 0..3 {
            t.begin_at(&format!("u{i}@x.io"), Some("9.9.9.9"), now).unwrap();
        }
        assert!(t.begin_at("fresh@x.io", Some("9.9.9.9"), now).is_err());
        assert!(t.begin_at("fresh@x.io", Some("8.8.8.8"), now).is_ok());
    }

    #[test]
    fn success_clears_the_email_and_refunds_the_address() {
        let t = throttle(5, 5);
        let now = Instant::now();
        for _ in 0..4 {
            t.begin_at("a@x.io", Some("1.1.1.1"), now).unwrap();
        }
        let last = t.begin_at("a@x.io", Some("1.1.1.1"), now).unwrap();
        t.succeeded(last);
        assert!(t.begin_at("a@x.io", Some("1.1.1.1"), now).is_ok());
    }

    #[test]
    fn memory_stays_bounded() {
        let t = throttle(5, u32::MAX);
        let now = Instant::now();
        for i in 0..(MAX_TRACKED + 50) {
            t.begin_at(&format!("u{i}@x.io"), None, now).unwrap();
        }
        assert_eq!(t.tracked().0, MAX_TRACKED);
    }

    #[test]
    fn waits_read_plainly() {
        assert_eq!(describe_wait(Duration::from_secs(900)), "in 15 minutes");
        assert_eq!(describe_wait(Duration::from_secs(61)), "in 2 minutes");
        assert_eq!(describe_wait(Duration::from_secs(1)), "in 1 second");
        assert_eq!(describe_wait(Duration::from_millis(10)), "in 1 second");
    }
}
