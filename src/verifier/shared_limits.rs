//! Per-key rate limits that hold across every instance, kept in Redis.
//!
//! Without it each instance counts alone, so N instances let a key make N times its rate. With
//! it, each request is one atomic GCRA step in Redis ([`GCRA_SCRIPT`], run by its SHA over one
//! multiplexed connection): one round trip, timed by Redis's own clock, so instances whose
//! clocks disagree still agree on every key. The state is one number per key
//! (`keyward:rate:<key id>`: its theoretical arrival time, in microseconds), set to expire when
//! its backlog has drained, so a key idle that long holds no memory and behaves as new, exactly
//! as the in-memory limiter forgets it. The arithmetic and what is reported are those of
//! [`super::ratelimit`]: Redis returns the backlog, [`state_from_backlog`] does the rest.
//!
//! Redis is never a reason to refuse a key. A call that fails or takes longer than
//! [`CALL_TIMEOUT`] answers `None`, and the verifier decides that request with its in-memory
//! limiter; Redis is then left alone for [`PAUSE`], so an outage costs one timeout per pause,
//! not one per request. Losing Redis is logged once (a warning), and so is getting it back.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo, Script};
use tokio::sync::oneshot;

use super::Verifier;
use super::ratelimit::{Quota, RateState, state_from_backlog};
use crate::config::{RedisAddress, RedisUrl};

/// The longest a request waits for Redis before it is decided in memory.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(250);
/// How long Redis is left alone after a failure.
pub const PAUSE: Duration = Duration::from_secs(1);

/// One GCRA step for one key, atomic in Redis, for `n` requests at once.
///
/// KEYS[1]: the key's theoretical arrival time (TAT), microseconds on Redis's clock.
/// ARGV: the emission interval and the tolerance (microseconds, from [`Quota`]); `n`, the
/// number of requests to take (0 to look without taking).
/// Returns `{allowed, backlog}`: how many of the `n` were allowed (in order: the first ones, as
/// if they had come one after another), and the backlog (TAT - now, microseconds) before them.
/// Requests refused take nothing.
///
/// Numbers are written with `%d`: Lua's own number-to-text conversion may use exponent
/// notation for a microsecond timestamp, which Redis would then not read back as a number.
pub const GCRA_SCRIPT: &str = r"
if redis.replicate_commands then redis.replicate_commands() end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then
  tat = math.max(tonumber(stored), now)
end
local backlog = tat - now
if n == 0 or backlog > tolerance then
  return {0, backlog}
end
local allowed = math.min(n, math.floor((tolerance - backlog) / interval) + 1)
local after = backlog + allowed * interval
redis.call('SET', KEYS[1], string.format('%d', now + after),
  'PX', string.format('%d', math.ceil(after / 1000)))
return {allowed, backlog}
";

/// What one Redis step answered for a batch: how many were allowed and the backlog before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Step {
    allowed: u64,
    /// Microseconds.
    backlog: u64,
}

impl Step {
    /// The `i`th request of the batch (0-based): whether it was allowed, and the backlog after
    /// it (nanoseconds), as if the batch had come one request at a time.
    fn share(self, i: u64, interval: u64) -> (bool, u64) {
        let micros = if i < self.allowed {
            self.backlog + (i + 1) * interval
        } else {
            self.backlog + self.allowed * interval
        };
        (i < self.allowed, micros.saturating_mul(1_000))
    }
}

/// What a request waiting behind another for the same key is told: its answer, or that it
/// makes the next call, for itself and those queued behind it.
enum Turn {
    Done(Option<(bool, u64)>),
    Lead(Vec<oneshot::Sender<Turn>>),
}

/// Why Redis did not decide a request.
#[derive(Debug, thiserror::Error)]
pub enum SharedLimitError {
    #[error("no answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
}

/// Where rate limits are being kept, as `/readyz` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitsMode {
    /// No Redis configured: each instance counts alone.
    Memory,
    Redis,
    /// Redis configured but not answering: each instance counts alone until it is back.
    RedisUnreachable,
}

impl LimitsMode {
    pub fn label(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Redis => "redis",
            Self::RedisUnreachable => "memory (redis unreachable)",
        }
    }
}

/// The Redis side of the rate limiter, shared by every worker of an instance.
pub struct SharedLimiter {
    client: Client,
    script: Script,
    /// The open connection, cloned for each call (a clone shares the one socket).
    connection: Mutex<Option<MultiplexedConnection>>,
    /// Held while connecting, so a reconnect is one attempt, not one per waiting request.
    connecting: tokio::sync::Mutex<()>,
    timeout: Duration,
    pause: Duration,
    epoch: Instant,
    /// Redis is not asked before this many milliseconds after `epoch`.
    paused_until: AtomicU64,
    /// What was last seen: a change either way is logged, once.
    reachable: AtomicBool,
    outages: AtomicU64,
    /// Keys with a call in flight, and the requests queued behind it. Requests for one key
    /// that arrive while its call is out go together in the next one: under load a hot key
    /// costs one round trip per batch, not per request, with the same answers.
    queues: Mutex<HashMap<i64, Vec<oneshot::Sender<Turn>>>>,
}

impl SharedLimiter {
    /// A limiter for this server; nothing is connected until the first call.
    pub fn new(url: &RedisUrl) -> Result<Self, SharedLimitError> {
        let address = match url.address() {
            RedisAddress::Tcp { host, port } => ConnectionAddr::Tcp(host.clone(), *port),
            RedisAddress::Unix(path) => ConnectionAddr::Unix(path.clone()),
        };
        let mut settings = RedisConnectionInfo::default().set_db(url.db());
        if let Some(user) = url.username() {
            settings = settings.set_username(user);
        }
        if let Some(password) = url.expose_password() {
            settings = settings.set_password(password);
        }
        let client = Client::open(address.into_connection_info()?.set_redis_settings(settings))?;
        Ok(Self {
            client,
            script: Script::new(GCRA_SCRIPT),
            connection: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            timeout: CALL_TIMEOUT,
            pause: PAUSE,
            epoch: Instant::now(),
            paused_until: AtomicU64::new(0),
            reachable: AtomicBool::new(true),
            outages: AtomicU64::new(0),
            queues: Mutex::new(HashMap::new()),
        })
    }

    /// The key's state after one request (`take`), or without taking one; `None` when Redis
    /// could not say in time, and the caller decides in memory.
    pub async fn check(&self, key_id: i64, quota: Quota, take: bool) -> Option<RateState> {
        if self.paused() {
            return None;
        }
        if !take {
            let step = self.step(key_id, quota, 0).await?;
            return Some(state_from_backlog(quota, step.backlog.saturating_mul(1_000), true));
        }
        let waiting = {
            let mut queues = self.queues.lock();
            match queues.get_mut(&key_id) {
                Some(queue) => {
                    let (tx, rx) = oneshot::channel();
                    queue.push(tx);
                    Some(rx)
                }
                None => {
                    queues.insert(key_id, Vec::new());
                    None
                }
            }
        };
        let followers = match waiting {
            None => Vec::new(),
            Some(turn) => match turn.await {
                Ok(Turn::Done(answer)) => {
                    return answer.map(|(allowed, backlog)| state_from_backlog(quota, backlog, allowed));
                }
                Ok(Turn::Lead(followers)) => followers,
                Err(_) => return None,
            },
        };
        let mut batch = Batch { limiter: self, key_id, followers };
        let step = self.step(key_id, quota, 1 + batch.followers.len() as u64).await;
        let interval = quota.interval_micros();
        for (i, follower) in std::mem::take(&mut batch.followers).into_iter().enumerate() {
            let _ = follower.send(Turn::Done(step.map(|s| s.share(i as u64 + 1, interval))));
        }
        drop(batch);
        step.map(|s| {
            let (allowed, backlog) = s.share(0, interval);
            state_from_backlog(quota, backlog, allowed)
        })
    }

    /// One call to the script for `n` requests.
    async fn step(&self, key_id: i64, quota: Quota, n: u64) -> Option<Step> {
        let call = async {
            let mut conn = self.connection().await?;
            let (allowed, backlog): (i64, i64) = self
                .script
                .key(format!("keyward:rate:{key_id}"))
                .arg(quota.interval_micros())
                .arg(quota.tolerance_micros())
                .arg(n)
                .invoke_async(&mut conn)
                .await?;
            Ok::<_, SharedLimitError>(Step {
                allowed: allowed.max(0).unsigned_abs(),
                backlog: backlog.max(0).unsigned_abs(),
            })
        };
        // The connection's own response timeout bounds the call (no second timer per request).
        match call.await {
            Ok(step) => {
                self.answered();
                Some(step)
            }
            Err(error) => {
                self.failed(&error);
                None
            }
        }
    }

    /// Passes the key's turn to the first request queued behind this batch (or frees the key
    /// when none is). Requests whose wait was abandoned are skipped.
    fn hand_over(&self, key_id: i64) {
        loop {
            let mut queue = {
                let mut queues = self.queues.lock();
                let queue = queues.get_mut(&key_id).map(std::mem::take).unwrap_or_default();
                if queue.is_empty() {
                    queues.remove(&key_id);
                    return;
                }
                queue
            };
            let first = queue.remove(0);
            match first.send(Turn::Lead(queue)) {
                Ok(()) => return,
                Err(Turn::Lead(rest)) => {
                    // Put the rest back at the front and try the next one.
                    let mut queues = self.queues.lock();
                    let queue = queues.entry(key_id).or_default();
                    let later = std::mem::replace(queue, rest);
                    queue.extend(later);
                }
                Err(Turn::Done(_)) => unreachable!("sent a Lead"),
            }
        }
    }

    /// Whether Redis answers now (a PING, within the timeout; not while paused after a
    /// failure). For `/readyz` and the start-up log.
    pub async fn probe(&self) -> LimitsMode {
        if self.paused() {
            return LimitsMode::RedisUnreachable;
        }
        let ping = async {
            let mut conn = self.connection().await?;
            redis::cmd("PING").query_async::<()>(&mut conn).await?;
            Ok(())
        };
        match self.within_timeout(ping).await {
            Ok(()) => {
                self.answered();
                LimitsMode::Redis
            }
            Err(error) => {
                self.failed(&error);
                LimitsMode::RedisUnreachable
            }
        }
    }

    /// How many times Redis was lost since start (each logged once).
    pub fn outages(&self) -> u64 {
        self.outages.load(Ordering::Relaxed)
    }

    async fn within_timeout<T>(
        &self,
        call: impl Future<Output = Result<T, SharedLimitError>>,
    ) -> Result<T, SharedLimitError> {
        tokio::time::timeout(self.timeout, call).await.map_err(|_| SharedLimitError::Timeout(self.timeout))?
    }

    async fn connection(&self) -> Result<MultiplexedConnection, SharedLimitError> {
        if let Some(conn) = self.connection.lock().clone() {
            return Ok(conn);
        }
        let _turn = self.connecting.lock().await;
        // Whoever held the turn before may have connected already.
        if let Some(conn) = self.connection.lock().clone() {
            return Ok(conn);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let conn = self.client.get_multiplexed_async_connection_with_config(&config).await?;
        *self.connection.lock() = Some(conn.clone());
        Ok(conn)
    }

    fn now_millis(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn paused(&self) -> bool {
        self.now_millis() < self.paused_until.load(Ordering::Relaxed)
    }

    fn failed(&self, error: &SharedLimitError) {
        // The socket may be half dead: the next call after the pause opens a new one.
        *self.connection.lock() = None;
        self.paused_until.store(self.now_millis() + self.pause.as_millis() as u64, Ordering::Relaxed);
        if self.reachable.swap(false, Ordering::AcqRel) {
            self.outages.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                %error,
                "Redis is unreachable: each instance now enforces per-key rate limits on its own \
                 (a key may get its full rate from every instance) until Redis answers again"
            );
        }
    }

    fn answered(&self) {
        // A load first: the swap writes a line every worker reads, on every request.
        if !self.reachable.load(Ordering::Acquire) && !self.reachable.swap(true, Ordering::AcqRel) {
            self.paused_until.store(0, Ordering::Relaxed);
            tracing::info!("Redis answers again: per-key rate limits hold across all instances");
        }
    }
}

/// The requests one call answers. Dropped after the answers went out, or early when the
/// leading request itself is abandoned mid-call (its client went away): then those waiting are
/// told to decide in memory. Either way the key's turn passes on, so no request waits forever.
struct Batch<'a> {
    limiter: &'a SharedLimiter,
    key_id: i64,
    followers: Vec<oneshot::Sender<Turn>>,
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        for follower in self.followers.drain(..) {
            let _ = follower.send(Turn::Done(None));
        }
        self.limiter.hand_over(self.key_id);
    }
}

impl Verifier {
    /// Where rate limits are kept now (asks Redis, when there is one).
    pub async fn limits_mode(&self) -> LimitsMode {
        match &self.shared {
            None => LimitsMode::Memory,
            Some(shared) => shared.probe().await,
        }
    }
}

impl crate::web::health::RateLimitReport for Verifier {
    fn rate_limits(&self) -> Pin<Box<dyn Future<Output = &'static str> + Send + '_>> {
        Box::pin(async move { self.limits_mode().await.label() })
    }
}
