//! The instance's Prometheus metrics, served at `GET /metrics` in the text exposition format
//! when `KEYWARD_METRICS_TOKEN` is set.
//!
//! One registry per running instance rather than a process-wide one: the tests run several
//! instances in one process, and each must count only its own requests.
//!
//! Every label value comes from a fixed list here (entry points, outcome codes, reasons,
//! pool states), never from a request: no key, key id, key name, user or address is ever a
//! label, so a scrape tells nothing about who did what, and the number of series is bounded.
//! Each series is created up front, so it reads 0 before its first event (a `rate()` over a
//! series that appears mid-way misses its first increments) and the request path only
//! increments an atomic, with no label lookup.

use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Where a verification was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// `POST /api/v1/keys/verify`
    Verify,
    /// `GET /api/v1/auth` (forward-auth)
    Auth,
    /// `GET /api/v1/whoami`
    Whoami,
}

impl Entry {
    pub const ALL: [Entry; 3] = [Entry::Verify, Entry::Auth, Entry::Whoami];

    pub fn label(self) -> &'static str {
        match self {
            Entry::Verify => "verify",
            Entry::Auth => "auth",
            Entry::Whoami => "whoami",
        }
    }
}

/// Every answer a verification can come to: `ok` and the verifier's refusal codes (the
/// verifier's tests check that each of its codes is here). Anything else counts as `other`.
pub const OUTCOMES: &[&str] = &[
    "ok",
    "missing_key",
    "malformed_key",
    "conflicting_keys",
    "key_in_query",
    "invalid_permission",
    "unknown_parameter",
    "invalid_body",
    "invalid_ip",
    "body_too_large",
    "unknown_key",
    "revoked_key",
    "expired_key",
    "disabled_key",
    "insufficient_permission",
    "ip_not_allowed",
    "rate_limited",
    "unavailable",
    "other",
];

/// Why a console sign-in failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignInFailure {
    /// A wrong email or password.
    Password,
    /// A wrong, reused or malformed second-step code.
    TwoFactor,
    /// Refused before checking anything: too many recent failures.
    Throttled,
}

impl SignInFailure {
    const ALL: [SignInFailure; 3] =
        [SignInFailure::Password, SignInFailure::TwoFactor, SignInFailure::Throttled];

    fn label(self) -> &'static str {
        match self {
            SignInFailure::Password => "password",
            SignInFailure::TwoFactor => "two_factor",
            SignInFailure::Throttled => "throttled",
        }
    }
}

/// Verification latency buckets, in seconds: a cached answer takes tens of microseconds, a
/// PostgreSQL read a millisecond or so, a shared rate limit a Redis round trip more.
const VERIFY_BUCKETS: &[f64] = &[
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// One usage flush is one write transaction.
const FLUSH_BUCKETS: &[f64] = &[0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

pub struct Metrics {
    registry: Registry,
    /// `Entry::ALL.len() × OUTCOMES.len()`, entry-major.
    verifications: Vec<IntCounter>,
    /// One per entry point.
    latency: Vec<Histogram>,
    cache_hits: IntCounter,
    cache_misses: IntCounter,
    flush_seconds: Histogram,
    flush_failures: IntCounter,
    sign_in_failures: Vec<IntCounter>,
    pool_connections: IntGaugeVec,
    pool_max: IntGauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("keyward".into()), None).expect("a valid prefix");
        let verifications_vec = IntCounterVec::new(
            Opts::new("verifications_total", "Key verifications answered, by entry point and outcome code."),
            &["entry", "outcome"],
        )
        .expect("valid metric");
        let mut verifications = Vec::with_capacity(Entry::ALL.len() * OUTCOMES.len());
        for entry in Entry::ALL {
            for outcome in OUTCOMES {
                verifications.push(verifications_vec.with_label_values(&[entry.label(), outcome]));
            }
        }
        let latency_vec = prometheus::HistogramVec::new(
            HistogramOpts::new(
                "verification_duration_seconds",
                "Time from a verification request's arrival to its answer, by entry point.",
            )
            .buckets(VERIFY_BUCKETS.to_vec()),
            &["entry"],
        )
        .expect("valid metric");
        let latency = Entry::ALL.iter().map(|e| latency_vec.with_label_values(&[e.label()])).collect();
        let cache_hits =
            IntCounter::new("key_cache_hits_total", "Verifications answered from the key cache.")
                .expect("valid");
        let cache_misses = IntCounter::new(
            "key_cache_misses_total",
            "Verifications that read the key from the database (not cached, or the cache was stale).",
        )
        .expect("valid");
        let flush_seconds = Histogram::with_opts(
            HistogramOpts::new("usage_flush_duration_seconds", "Time to write one batch of key usage.")
                .buckets(FLUSH_BUCKETS.to_vec()),
        )
        .expect("valid");
        let flush_failures = IntCounter::new(
            "usage_flush_failures_total",
            "Usage batches that could not be written (kept in memory and retried).",
        )
        .expect("valid");
        let sign_in_vec = IntCounterVec::new(
            Opts::new("sign_in_failures_total", "Failed console sign-ins, by reason."),
            &["reason"],
        )
        .expect("valid metric");
        let sign_in_failures =
            SignInFailure::ALL.iter().map(|r| sign_in_vec.with_label_values(&[r.label()])).collect();
        let pool_connections = IntGaugeVec::new(
            Opts::new("db_pool_connections", "Database pool connections, by state (read when scraped)."),
            &["state"],
        )
        .expect("valid metric");
        let pool_max = IntGauge::new("db_pool_max_connections", "The database pool's size limit.")
            .expect("valid metric");
        let build_info = IntGauge::with_opts(
            Opts::new("build_info", "The running version (always 1).")
                .const_label("version", env!("CARGO_PKG_VERSION")),
        )
        .expect("valid metric");
        build_info.set(1);
        for collector in [
            Box::new(verifications_vec) as Box<dyn prometheus::core::Collector>,
            Box::new(latency_vec),
            Box::new(cache_hits.clone()),
            Box::new(cache_misses.clone()),
            Box::new(flush_seconds.clone()),
            Box::new(flush_failures.clone()),
            Box::new(sign_in_vec),
            Box::new(pool_connections.clone()),
            Box::new(pool_max.clone()),
            Box::new(build_info),
        ] {
            registry.register(collector).expect("metric names are unique");
        }
        Self {
            registry,
            verifications,
            latency,
            cache_hits,
            cache_misses,
            flush_seconds,
            flush_failures,
            sign_in_failures,
            pool_connections,
            pool_max,
        }
    }

    /// One verification answered at `entry` with `outcome` (a code from [`OUTCOMES`]).
    pub fn verification(&self, entry: Entry, outcome: &str, took: Duration) {
        let e = entry as usize;
        let o = OUTCOMES.iter().position(|c| *c == outcome).unwrap_or(OUTCOMES.len() - 1);
        self.verifications[e * OUTCOMES.len() + o].inc();
        self.latency[e].observe(took.as_secs_f64());
    }

    pub fn cache_hit(&self) {
        self.cache_hits.inc();
    }

    pub fn cache_miss(&self) {
        self.cache_misses.inc();
    }

    /// One usage flush that wrote something (or failed to).
    pub fn usage_flush(&self, took: Duration, written: bool) {
        self.flush_seconds.observe(took.as_secs_f64());
        if !written {
            self.flush_failures.inc();
        }
    }

    pub fn sign_in_failure(&self, why: SignInFailure) {
        self.sign_in_failures[why as usize].inc();
    }

    /// The pool's state, set just before a scrape renders.
    pub fn set_pool(&self, in_use: u32, idle: u32, max: u32) {
        self.pool_connections.with_label_values(&["in_use"]).set(i64::from(in_use));
        self.pool_connections.with_label_values(&["idle"]).set(i64::from(idle));
        self.pool_max.set(i64::from(max));
    }

    /// Everything, in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = Vec::with_capacity(16 * 1024);
        TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("text encoding into memory");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_land_on_their_own_series_and_unknown_codes_on_other() {
        let m = Metrics::new();
        m.verification(Entry::Auth, "revoked_key", Duration::from_micros(40));
        m.verification(Entry::Auth, "revoked_key", Duration::from_micros(40));
        m.verification(Entry::Verify, "ok", Duration::from_millis(2));
        m.verification(Entry::Whoami, "something_new", Duration::from_micros(1));
        m.sign_in_failure(SignInFailure::TwoFactor);
        m.set_pool(2, 3, 10);
        let text = m.render();
        for line in [
            r#"keyward_verifications_total{entry="auth",outcome="revoked_key"} 2"#,
            r#"keyward_verifications_total{entry="verify",outcome="ok"} 1"#,
            r#"keyward_verifications_total{entry="whoami",outcome="other"} 1"#,
            r#"keyward_verifications_total{entry="verify",outcome="revoked_key"} 0"#,
            r#"keyward_verification_duration_seconds_bucket{entry="auth",le="0.00005"} 2"#,
            r#"keyward_verification_duration_seconds_count{entry="verify"} 1"#,
            r#"keyward_sign_in_failures_total{reason="two_factor"} 1"#,
            r#"keyward_db_pool_connections{state="idle"} 3"#,
            r#"keyward_db_pool_max_connections 10"#,
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }

    #[test]
    fn instances_count_apart() {
        let (a, b) = (Metrics::new(), Metrics::new());
        a.cache_hit();
        assert!(a.render().contains("keyward_key_cache_hits_total 1"));
        assert!(b.render().contains("keyward_key_cache_hits_total 0"));
    }
}
