//! Sign-in throttling, in memory. Three counts (see [`LoginThrottleSettings`]):
//!
//! - **an account from one client network** backs off: a few failures are free, then each
//!   further attempt must wait, twice as long after every failure, up to a cap. Guessing one
//!   account from one place gets slow fast, while its owner elsewhere is not touched;
//! - **an account from everywhere** has a ceiling far above that (100 failures in 15 minutes by
//!   default): reaching it takes many networks, so a stranger cannot lock someone out by
//!   failing on purpose, yet distributed guessing stays bounded;
//! - **a client network across accounts** has its own limit, against spraying one password
//!   over many accounts.
//!
//! A client network is an IPv4 address or an IPv6 /64: one IPv6 host commonly holds a whole
//! /64, so counting its addresses one by one would give it billions of budgets.
//!
//! An attempt is counted when its password is about to be checked ([`LoginThrottle::begin`])
//! and partly given back if it succeeds, so a burst of concurrent guesses cannot slip past a
//! limit while argon2 runs. Memory is bounded: each table keeps at most `max_tracked` entries.
//! When one is full, entries whose time has passed go first, then the oldest that holds no
//! refusal; an entry that is refusing someone is never dropped to make room. If every entry
//! is, the new attempt is refused instead: forgetting a refusal would hand an attacker a fresh
//! budget for the price of filling the table.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use parking_lot::Mutex;

use crate::config::LoginThrottleSettings;

/// Where an attempt comes from, as the throttle counts it: an IPv4 address or an IPv6 /64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientNet(IpNet);

impl ClientNet {
    pub fn of(ip: IpAddr) -> Self {
        let net = match ip.to_canonical() {
            IpAddr::V4(v4) => IpNet::V4(Ipv4Net::from(v4)),
            IpAddr::V6(v6) => IpNet::V6(Ipv6Net::new_assert(v6, 64).trunc()),
        };
        Self(net)
    }
}

impl std::fmt::Display for ClientNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpNet::V4(v4) => v4.addr().fmt(f),
            IpNet::V6(v6) => v6.fmt(f),
        }
    }
}

/// Which count refused an attempt (for the operator's log; the page says the same to all).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// This account from this network must wait before its next attempt.
    Backoff,
    /// This account has reached its ceiling from all networks.
    Account,
    /// This network has reached its limit across accounts.
    Network,
    /// A table is full of entries that are all refusing someone.
    Full,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Backoff => "backoff",
            Self::Account => "account",
            Self::Network => "network",
            Self::Full => "full",
        }
    }
}

/// Why an attempt may not go ahead, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    /// How long until the attempt may be made.
    pub retry_after: Duration,
    pub limit: Limit,
}

/// An attempt that was counted; hand it back through [`LoginThrottle::succeeded`] on success.
#[derive(Debug)]
pub struct Attempt {
    account: String,
    net: Option<ClientNet>,
}

/// Failures of one account, or of one network, within a window.
#[derive(Clone, Copy, Debug)]
struct Count {
    failures: u32,
    /// When the window began (the first counted attempt).
    since: Instant,
    /// Set once `failures` reaches the limit: refused until then.
    locked_until: Option<Instant>,
}

/// Failures of one account from one network, and when the next attempt may come.
#[derive(Clone, Copy, Debug)]
struct Backoff {
    failures: u32,
    last: Instant,
    /// Set only once the free failures are spent. A free failure sets no time at all: "allowed
    /// from now" read by a request whose clock was taken a moment before this one's (clocks are
    /// read before the lock) would refuse it, for microseconds, with a 429.
    waits_until: Option<Instant>,
}

/// What every kind of entry tells the table about itself.
trait Tracked {
    /// Refusing attempts now: never dropped to make room.
    fn refusing_until(&self, now: Instant) -> Option<Instant>;
    /// Nothing left to remember: dropped on sight.
    fn spent(&self, now: Instant, window: Duration) -> bool;
    /// Its age, for dropping the oldest first.
    fn last_seen(&self) -> Instant;
}

impl Tracked for Count {
    fn refusing_until(&self, now: Instant) -> Option<Instant> {
        self.locked_until.filter(|until| *until > now)
    }

    fn spent(&self, now: Instant, window: Duration) -> bool {
        match self.locked_until {
            Some(until) => until <= now,
            None => now.duration_since(self.since) >= window,
        }
    }

    fn last_seen(&self) -> Instant {
        self.since
    }
}

impl Tracked for Backoff {
    fn refusing_until(&self, now: Instant) -> Option<Instant> {
        self.waits_until.filter(|until| *until > now)
    }

    /// A pair is forgotten a window after its wait ended without another attempt, so an
    /// attacker who waits out each delay keeps climbing while someone who leaves starts afresh.
    fn spent(&self, now: Instant, window: Duration) -> bool {
        now >= self.waits_until.unwrap_or(self.last) + window
    }

    fn last_seen(&self) -> Instant {
        self.last
    }
}

/// Entries of one kind, at most `capacity` of them.
struct Table<K, E> {
    capacity: usize,
    entries: HashMap<K, E>,
}

impl<K: Eq + Hash + Clone, E: Tracked> Table<K, E> {
    fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), entries: HashMap::new() }
    }

    /// The entry for `key`, unless it is spent (then it is dropped).
    fn live(&mut self, key: &K, now: Instant, window: Duration) -> Option<&mut E> {
        if self.entries.get(key).is_some_and(|e| e.spent(now, window)) {
            self.entries.remove(key);
        }
        self.entries.get_mut(key)
    }

    /// Whether `key` has, or can be given, a place. A full table drops spent entries, then the
    /// oldest that refuses no one; when every entry refuses someone, the answer is how long
    /// until the first of them stops.
    fn make_room(&mut self, key: &K, now: Instant, window: Duration) -> Result<(), Duration> {
        if self.entries.len() < self.capacity || self.entries.contains_key(key) {
            return Ok(());
        }
        self.entries.retain(|_, e| !e.spent(now, window));
        if self.entries.len() < self.capacity {
            return Ok(());
        }
        let oldest_free = self
            .entries
            .iter()
            .filter(|(_, e)| e.refusing_until(now).is_none())
            .min_by_key(|(_, e)| e.last_seen())
            .map(|(k, _)| k.clone());
        match oldest_free {
            Some(k) => {
                self.entries.remove(&k);
                Ok(())
            }
            None => {
                let first_free = self.entries.values().filter_map(|e| e.refusing_until(now)).min();
                Err(first_free.map_or(Duration::from_secs(1), |t| t - now))
            }
        }
    }
}

struct Tables {
    pairs: Table<(String, Option<ClientNet>), Backoff>,
    accounts: Table<String, Count>,
    networks: Table<ClientNet, Count>,
}

/// The sign-in counters, shared by every worker.
pub struct LoginThrottle {
    settings: LoginThrottleSettings,
    tables: Mutex<Tables>,
}

impl LoginThrottle {
    pub fn new(settings: LoginThrottleSettings) -> Self {
        let cap = settings.max_tracked;
        let tables = Tables { pairs: Table::new(cap), accounts: Table::new(cap), networks: Table::new(cap) };
        Self { settings, tables: Mutex::new(tables) }
    }

    /// Whether an attempt for `account` (normalised) from `ip` would be refused now. Counts
    /// nothing: for refusing early, before any work is done for the attempt.
    pub fn check(&self, account: &str, ip: Option<IpAddr>) -> Result<(), Refused> {
        self.check_at(account, ip.map(ClientNet::of), Instant::now())
    }

    /// Counts an attempt for `account` from `ip` whose password is about to be checked, or
    /// refuses it (counting nothing).
    pub fn begin(&self, account: &str, ip: Option<IpAddr>) -> Result<Attempt, Refused> {
        self.begin_at(account, ip.map(ClientNet::of), Instant::now())
    }

    /// The attempt signed in: its network may try this account freely again, and the account
    /// and the network get the attempt back. The account's count is not cleared: its owner
    /// signing in must not reset the ceiling for whoever is guessing from elsewhere.
    pub fn succeeded(&self, attempt: Attempt) {
        let mut guard = self.tables.lock();
        let t = &mut *guard;
        t.pairs.entries.remove(&(attempt.account.clone(), attempt.net));
        refund(&mut t.accounts, &attempt.account, self.settings.max_failures_per_account);
        if let Some(net) = attempt.net {
            refund(&mut t.networks, &net, self.settings.max_failures_per_ip);
        }
    }

    /// How many entries are remembered (pairs, accounts, networks): for tests of the bound.
    pub fn tracked(&self) -> (usize, usize, usize) {
        let t = self.tables.lock();
        (t.pairs.entries.len(), t.accounts.entries.len(), t.networks.entries.len())
    }

    fn check_at(&self, account: &str, net: Option<ClientNet>, now: Instant) -> Result<(), Refused> {
        let mut guard = self.tables.lock();
        self.refusal(&mut guard, account, net, now).map_or(Ok(()), Err)
    }

    fn begin_at(&self, account: &str, net: Option<ClientNet>, now: Instant) -> Result<Attempt, Refused> {
        let window = self.settings.window;
        let mut guard = self.tables.lock();
        let t = &mut *guard;
        if let Some(refused) = self.refusal(t, account, net, now) {
            return Err(refused);
        }
        // Every table must have a place before any counts, so a refusal counts nothing.
        let pair = (account.to_owned(), net);
        let full = |retry_after| Refused { retry_after, limit: Limit::Full };
        t.pairs.make_room(&pair, now, window).map_err(full)?;
        t.accounts.make_room(&pair.0, now, window).map_err(full)?;
        if let Some(net) = &net {
            t.networks.make_room(net, now, window).map_err(full)?;
        }

        let b = t.pairs.entries.entry(pair).or_insert(Backoff { failures: 0, last: now, waits_until: None });
        b.failures += 1;
        b.last = now;
        let wait = self.backoff(b.failures);
        if !wait.is_zero() {
            b.waits_until = Some(now + wait);
        }
        count(&mut t.accounts, account.to_owned(), self.settings.max_failures_per_account, now, window);
        if let Some(net) = net {
            count(&mut t.networks, net, self.settings.max_failures_per_ip, now, window);
        }
        Ok(Attempt { account: account.to_owned(), net })
    }

    /// The longest wait any of the three counts imposes now, if any.
    fn refusal(
        &self,
        t: &mut Tables,
        account: &str,
        net: Option<ClientNet>,
        now: Instant,
    ) -> Option<Refused> {
        let window = self.settings.window;
        let pair = (account.to_owned(), net);
        let mut waits = vec![
            (t.pairs.live(&pair, now, window).and_then(|e| e.refusing_until(now)), Limit::Backoff),
            (t.accounts.live(&pair.0, now, window).and_then(|e| e.refusing_until(now)), Limit::Account),
        ];
        if let Some(net) = &net {
            waits.push((
                t.networks.live(net, now, window).and_then(|e| e.refusing_until(now)),
                Limit::Network,
            ));
        }
        waits
            .into_iter()
            .filter_map(|(until, limit)| Some(Refused { retry_after: until? - now, limit }))
            .max_by_key(|r| r.retry_after)
    }

    /// How long a pair waits after its `failures`-th failure: nothing for the free ones, then
    /// `first_delay`, doubling with each failure, at most `max_delay`.
    fn backoff(&self, failures: u32) -> Duration {
        let s = &self.settings;
        match failures.checked_sub(s.free_failures_per_pair) {
            None => Duration::ZERO,
            Some(extra) => s.first_delay.saturating_mul(1 << extra.min(30)).min(s.max_delay),
        }
    }
}

/// Counts a failure for `key`; at `limit` the key is refused for a window.
fn count<K: Eq + Hash + Clone>(
    table: &mut Table<K, Count>,
    key: K,
    limit: u32,
    now: Instant,
    window: Duration,
) {
    let e = table.entries.entry(key).or_insert(Count { failures: 0, since: now, locked_until: None });
    e.failures += 1;
    if e.failures >= limit.max(1) {
        e.locked_until = Some(now + window);
    }
}

/// Gives one counted attempt back to `key`.
fn refund<K: Eq + Hash>(table: &mut Table<K, Count>, key: &K, limit: u32) {
    if let Some(e) = table.entries.get_mut(key) {
        e.failures = e.failures.saturating_sub(1);
        if e.failures < limit.max(1) {
            e.locked_until = None;
        }
    }
}

/// Says when to try again, in words: "in 15 minutes", "in 40 seconds".
pub fn describe_wait(wait: Duration) -> String {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
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

    const SEC: Duration = Duration::from_secs(1);

    fn settings() -> LoginThrottleSettings {
        LoginThrottleSettings {
            free_failures_per_pair: 3,
            first_delay: SEC,
            max_delay: Duration::from_secs(60),
            max_failures_per_account: 100,
            max_failures_per_ip: 1000,
            window: Duration::from_secs(900),
            max_tracked: 10_000,
        }
    }

    fn net(ip: &str) -> Option<ClientNet> {
        Some(ClientNet::of(ip.parse().unwrap()))
    }

    /// Fails `n` attempts for `account` from `ip` at `at`, each allowed.
    fn fail(t: &LoginThrottle, account: &str, ip: &str, n: u32, at: Instant) {
        for i in 0..n {
            t.begin_at(account, net(ip), at).unwrap_or_else(|r| panic!("attempt {i}: {r:?}"));
        }
    }

    #[test]
    fn after_the_free_failures_a_pair_waits_twice_as_long_each_time_up_to_the_cap() {
        let t = LoginThrottle::new(settings());
        let mut now = Instant::now();
        fail(&t, "a@x.io", "192.0.2.1", 2, now);
        // The third failure is the last free one; from it on, each failure sets a wait.
        let mut waits = Vec::new();
        for _ in 0..9 {
            t.begin_at("a@x.io", net("192.0.2.1"), now).unwrap();
            let refused = t.begin_at("a@x.io", net("192.0.2.1"), now).unwrap_err();
            assert_eq!(refused.limit, Limit::Backoff);
            waits.push(refused.retry_after.as_secs());
            now += refused.retry_after;
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn a_pair_in_backoff_does_not_touch_the_same_account_from_elsewhere() {
        let t = LoginThrottle::new(settings());
        let now = Instant::now();
        fail(&t, "a@x.io", "192.0.2.1", 3, now);
        assert!(t.check_at("a@x.io", net("192.0.2.1"), now).is_err());
        assert!(t.check_at("a@x.io", net("198.51.100.9"), now).is_ok());
        assert!(t.begin_at("a@x.io", net("198.51.100.9"), now).is_ok());
        // …nor another account from the same network.
        assert!(t.begin_at("b@x.io", net("192.0.2.1"), now).is_ok());
    }

    #[test]
    fn an_ipv6_network_is_one_client_and_an_ipv4_address_is_one_client() {
        let t = LoginThrottle::new(settings());
        let now = Instant::now();
        fail(&t, "a@x.io", "2001:db8:1:2::1", 3, now);
        // Another address in the same /64 is the same client…
        assert!(t.begin_at("a@x.io", net("2001:db8:1:2:ffff::9"), now).is_err());
        // …one in the next /64 is not, and neither is the next IPv4 address.
        assert!(t.begin_at("a@x.io", net("2001:db8:1:3::1"), now).is_ok());
        fail(&t, "b@x.io", "192.0.2.1", 3, now);
        assert!(t.begin_at("b@x.io", net("192.0.2.2"), now).is_ok());
        assert_eq!(ClientNet::of("2001:db8:1:2:ffff::9".parse().unwrap()).to_string(), "2001:db8:1:2::/64");
        assert_eq!(ClientNet::of("::ffff:192.0.2.1".parse().unwrap()).to_string(), "192.0.2.1");
    }

    #[test]
    fn the_account_ceiling_counts_failures_from_every_network_and_then_refuses_all() {
        let t = LoginThrottle::new(LoginThrottleSettings { max_failures_per_account: 10, ..settings() });
        let now = Instant::now();
        // Ten networks, one failure each: the ceiling of ten is reached.
        for i in 0..10 {
            fail(&t, "a@x.io", &format!("192.0.2.{i}"), 1, now);
        }
        let refused = t.begin_at("a@x.io", net("203.0.113.1"), now + SEC).unwrap_err();
        assert_eq!(refused.limit, Limit::Account);
        assert_eq!(refused.retry_after, Duration::from_secs(899));
        // Other accounts are not affected, and the window's end lifts it.
        assert!(t.begin_at("b@x.io", net("203.0.113.1"), now).is_ok());
        assert!(t.begin_at("a@x.io", net("203.0.113.1"), now + Duration::from_secs(900)).is_ok());
    }

    #[test]
    fn a_network_is_refused_after_its_own_limit_across_accounts() {
        let t = LoginThrottle::new(LoginThrottleSettings { max_failures_per_ip: 3, ..settings() });
        let now = Instant::now();
        for i in 0..3 {
            fail(&t, &format!("u{i}@x.io"), "192.0.2.9", 1, now);
        }
        let refused = t.begin_at("fresh@x.io", net("192.0.2.9"), now).unwrap_err();
        assert_eq!(refused.limit, Limit::Network);
        assert!(t.begin_at("fresh@x.io", net("192.0.2.8"), now).is_ok());
    }

    #[test]
    fn a_free_failure_refuses_no_one_whose_clock_was_read_a_moment_earlier() {
        // Clocks are read before the lock: a concurrent right password may arrive with an
        // instant just before the one a free failure was counted at. It must not be refused.
        let t = LoginThrottle::new(settings());
        let earlier = Instant::now();
        let later = earlier + Duration::from_micros(50);
        fail(&t, "a@x.io", "192.0.2.1", 2, later);
        assert_eq!(t.check_at("a@x.io", net("192.0.2.1"), earlier), Ok(()));
        assert!(t.begin_at("a@x.io", net("192.0.2.1"), earlier).is_ok());
    }

    #[test]
    fn a_refused_attempt_counts_nothing() {
        let t = LoginThrottle::new(settings());
        let now = Instant::now();
        fail(&t, "a@x.io", "192.0.2.1", 3, now);
        for _ in 0..50 {
            assert!(t.begin_at("a@x.io", net("192.0.2.1"), now).is_err());
        }
        // Still the first wait, and the account far from its ceiling.
        assert_eq!(t.begin_at("a@x.io", net("192.0.2.1"), now).unwrap_err().retry_after, SEC);
        assert!(t.begin_at("a@x.io", net("192.0.2.1"), now + SEC).is_ok());
        assert_eq!(t.tables.lock().accounts.entries["a@x.io"].failures, 4);
    }

    #[test]
    fn checking_counts_nothing() {
        let t = LoginThrottle::new(settings());
        let now = Instant::now();
        for _ in 0..20 {
            assert!(t.check_at("a@x.io", net("192.0.2.1"), now).is_ok());
        }
        assert_eq!(t.tracked(), (0, 0, 0));
    }

    #[test]
    fn success_frees_the_pair_and_gives_the_attempt_back() {
        let t = LoginThrottle::new(LoginThrottleSettings { max_failures_per_ip: 5, ..settings() });
        let now = Instant::now();
        fail(&t, "a@x.io", "192.0.2.1", 3, now);
        let first_wait = t.begin_at("a@x.io", net("192.0.2.1"), now).unwrap_err().retry_after;
        let right = t.begin_at("a@x.io", net("192.0.2.1"), now + first_wait).unwrap();
        t.succeeded(right);
        assert_eq!(t.tracked().0, 0, "the pair starts afresh");
        // The account and the network keep their three failures: only this attempt came back.
        let tables = t.tables.lock();
        assert_eq!(tables.accounts.entries["a@x.io"].failures, 3);
        assert_eq!(tables.networks.entries[&net("192.0.2.1").unwrap()].failures, 3);
    }

    #[test]
    fn a_pair_is_forgotten_a_window_after_its_wait_ends() {
        let t = LoginThrottle::new(settings());
        let now = Instant::now();
        fail(&t, "a@x.io", "192.0.2.1", 3, now);
        // Waiting out the delay alone does not reset the pair: the next failure waits longer.
        fail(&t, "a@x.io", "192.0.2.1", 1, now + SEC);
        let refused = t.begin_at("a@x.io", net("192.0.2.1"), now + SEC).unwrap_err();
        assert_eq!(refused.retry_after, 2 * SEC);
        // A window of quiet after the wait: free failures again.
        let later = now + 3 * SEC + Duration::from_secs(900);
        fail(&t, "a@x.io", "192.0.2.1", 3, later);
    }

    #[test]
    fn a_full_table_drops_spent_entries_then_the_oldest_that_refuses_no_one() {
        let t = LoginThrottle::new(LoginThrottleSettings { max_tracked: 3, ..settings() });
        let start = Instant::now();
        fail(&t, "locked@x.io", "192.0.2.1", 3, start); // in backoff for a second
        fail(&t, "old@x.io", "192.0.2.1", 1, start);
        fail(&t, "newer@x.io", "192.0.2.1", 1, start + Duration::from_millis(10));
        // The table is full: the oldest free pair ("old") goes, the one in backoff stays.
        fail(&t, "new@x.io", "192.0.2.1", 1, start + Duration::from_millis(20));
        let pairs = t.tables.lock().pairs.entries.keys().map(|(a, _)| a.clone()).collect::<Vec<_>>();
        assert!(!pairs.contains(&"old@x.io".to_owned()), "{pairs:?}");
        assert!(pairs.contains(&"locked@x.io".to_owned()), "{pairs:?}");
        assert!(t.begin_at("locked@x.io", net("192.0.2.1"), start).is_err());
        // Once spent, entries go before anything else: a window later all three are.
        let later = start + Duration::from_secs(1000);
        fail(&t, "x@x.io", "192.0.2.2", 1, later);
        assert_eq!(t.tracked().0, 1);
    }

    #[test]
    fn a_table_full_of_refusals_refuses_the_newcomer_and_forgets_no_lock() {
        let t = LoginThrottle::new(LoginThrottleSettings { max_tracked: 2, ..settings() });
        let now = Instant::now();
        fail(&t, "a@x.io", "192.0.2.1", 3, now);
        fail(&t, "b@x.io", "192.0.2.1", 3, now + Duration::from_millis(500));
        let refused = t.begin_at("c@x.io", net("192.0.2.1"), now + Duration::from_millis(500)).unwrap_err();
        assert_eq!(refused.limit, Limit::Full);
        // Until a's wait ends, half a second later.
        assert_eq!(refused.retry_after, Duration::from_millis(500));
        assert!(t.begin_at("a@x.io", net("192.0.2.1"), now + Duration::from_millis(500)).is_err());
        assert!(t.begin_at("b@x.io", net("192.0.2.1"), now + Duration::from_millis(500)).is_err());
        // The newcomer was not counted anywhere.
        assert_eq!(t.tracked(), (2, 2, 1));
        // When a's wait ends, a's pair may be dropped for the newcomer.
        assert!(t.begin_at("c@x.io", net("192.0.2.1"), now + SEC).is_ok());
    }

    #[test]
    fn memory_stays_bounded() {
        let t = LoginThrottle::new(LoginThrottleSettings {
            max_tracked: 100,
            max_failures_per_ip: u32::MAX,
            ..settings()
        });
        let now = Instant::now();
        for i in 0..1000 {
            t.begin_at(&format!("u{i}@x.io"), net("192.0.2.1"), now).unwrap();
        }
        assert_eq!(t.tracked(), (100, 100, 1));
    }

    #[test]
    fn waits_read_plainly() {
        assert_eq!(describe_wait(Duration::from_secs(900)), "in 15 minutes");
        assert_eq!(describe_wait(Duration::from_secs(61)), "in 2 minutes");
        assert_eq!(describe_wait(Duration::from_secs(1)), "in 1 second");
        assert_eq!(describe_wait(Duration::from_millis(10)), "in 1 second");
        assert_eq!(describe_wait(Duration::from_millis(1500)), "in 2 seconds");
    }
}
