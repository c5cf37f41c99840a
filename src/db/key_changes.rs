//! Knowing, without asking the database, that no key has changed: what lets the verifier
//! answer from memory on both backends and still refuse a revoked key on the very next request.
//!
//! Every change a verifier could have cached (a key's secret, permissions, expiry, revocation,
//! limits or names, a key's deletion, a workspace's rename) raises `key_changes.seq`, by
//! triggers (migration `key_changes`), so no code path can forget to.
//!
//! - **SQLite**: a [`KeyStamp::Wal`] is the WAL-index header (changes with every commit, read
//!   through a mapping, see [`super::wal_watch`]) and the folder watcher's event count (see
//!   [`super::file_watch`]). While both stay the same nothing was committed and the file is
//!   where it was. When they move, one read of `key_changes.seq` tells whether the commit
//!   touched a key: a usage flush or a sign-in keeps the cache, a revocation empties it.
//! - **PostgreSQL**: another instance's commit cannot be seen without asking the server, so
//!   each instance holds a *lease* and is told. [`KeyFeed`] keeps a connection of its own that
//!   LISTENs for the trigger's `NOTIFY` (sent at commit) and renews the lease in
//!   `verifier_leases` every [`RENEW_FRACTION`]th of its length. A transaction that changed a
//!   key learns its number from the trigger and, once committed, waits until every instance
//!   with a live lease has acknowledged that number or let its lease lapse
//!   ([`wait_for_acknowledgements`]) before the change is answered. An instance trusts its
//!   memory only while its lease is surely still live and its listener connection is up; its
//!   [`KeyStamp::Feed`] is a generation raised by every notification, every reconnect and
//!   every lapse. Otherwise it reads the database on every request: slower, never wrong.
//!
//! A [`KeyVersion`] orders what was read: a cache drops everything read under an older
//! version, and refuses what a slow reader brings back from one.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::pg_session::PgSession;
use super::wal_watch::ChangeStamp;
use super::{DbConnection, DbError};

/// What the database looked like, cheaply: two equal stamps mean nothing a cache holds can
/// have changed in between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyStamp {
    Wal { header: ChangeStamp, file_events: u64 },
    Feed { generation: u64 },
}

/// Orders reads: what was read under a greater version is at least as new.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyVersion {
    /// SQLite: the file's event count; PostgreSQL: the feed's generation.
    epoch: u64,
    /// SQLite: `key_changes.seq`; PostgreSQL: 0 (the generation already counts changes).
    seq: i64,
}

impl KeyVersion {
    #[cfg(test)]
    pub fn for_tests(epoch: u64, seq: i64) -> Self {
        Self { epoch, seq }
    }
}

/// What a read brings back beside its result: the stamp taken before it, and the version it is
/// valid under. `None` when nothing read now may be kept.
pub type KeyValidity = Option<(KeyStamp, KeyVersion)>;

pub(super) fn sqlite_version(
    conn: &mut DbConnection,
    header: ChangeStamp,
    file_events: u64,
) -> QueryResult<(KeyStamp, KeyVersion)> {
    let seq = current_seq(conn)?;
    Ok((KeyStamp::Wal { header, file_events }, KeyVersion { epoch: file_events, seq }))
}

#[derive(QueryableByName)]
struct Seq {
    #[diesel(sql_type = BigInt)]
    seq: i64,
}

fn current_seq(conn: &mut DbConnection) -> QueryResult<i64> {
    diesel::sql_query("SELECT seq FROM key_changes WHERE id = 1").get_result::<Seq>(conn).map(|s| s.seq)
}

#[derive(QueryableByName)]
struct Pending {
    #[diesel(sql_type = Nullable<Text>)]
    pending: Option<String>,
}

/// PostgreSQL, inside a transaction: the number of the key change this transaction made, if it
/// made one (set by the trigger with `set_config(…, true)`, so it dies with the transaction).
pub(super) fn pending_change(conn: &mut DbConnection) -> QueryResult<Option<i64>> {
    let row: Pending = diesel::sql_query("SELECT current_setting('keyward.key_change', true) AS pending")
        .get_result(conn)?;
    Ok(row.pending.and_then(|s| s.parse().ok()))
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// PostgreSQL: waits until every instance with a live lease has acknowledged change `seq` (or
/// its lease has lapsed), polling in steps of a few milliseconds. Gives up after [`PATIENCE`]
/// with an error in the log: an instance that renews without acknowledging would be a defect.
pub(super) fn wait_for_acknowledgements(conn: &mut DbConnection, seq: i64) -> Result<(), DbError> {
    let started = Instant::now();
    let mut step = Duration::from_micros(500);
    loop {
        let waiting: Count = diesel::sql_query(
            "SELECT count(*) AS n FROM verifier_leases \
             WHERE acked_seq < $1 AND expires_at > (now() AT TIME ZONE 'UTC')",
        )
        .bind::<BigInt, _>(seq)
        .get_result(conn)?;
        if waiting.n == 0 {
            return Ok(());
        }
        if started.elapsed() > PATIENCE {
            tracing::error!(
                change = seq,
                instances = waiting.n,
                "key change answered before every live instance acknowledged it"
            );
            return Ok(());
        }
        std::thread::sleep(step);
        step = (step * 2).min(Duration::from_millis(4));
    }
}

/// How long a change waits for acknowledgements at most (an instance may run a longer lease).
const PATIENCE: Duration = Duration::from_secs(10);

/// How often a lease is renewed, as a fraction of its length.
pub const RENEW_FRACTION: u32 = 8;

/// An instance's standing to answer from memory on PostgreSQL, kept by a thread of its own.
pub struct KeyFeed {
    shared: Arc<FeedState>,
}

struct FeedState {
    epoch: Instant,
    /// Nanoseconds since `epoch` until which memory may be trusted; 0 when not at all.
    trusted_until: AtomicU64,
    generation: AtomicU64,
    /// Nanoseconds since `epoch` of the last distrust: a renewal sent before it (still in
    /// flight then) does not restore the trust.
    distrusted_at: AtomicU64,
    stop: AtomicBool,
    lease: Duration,
    instance: String,
}

impl FeedState {
    fn nanos(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    /// The stamp to cache under, when memory may be trusted right now.
    fn stamp(&self) -> Option<u64> {
        // `trusted_until` first: a renewal after a lapse raises the generation before it
        // extends the trust, so whoever sees the new trust also sees the new generation.
        let until = self.trusted_until.load(Ordering::Acquire);
        if self.nanos(Instant::now()) >= until {
            return None;
        }
        Some(self.generation.load(Ordering::Acquire))
    }

    /// Forgets everything cached so far.
    fn advance(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn distrust(&self) {
        self.distrusted_at.fetch_max(self.nanos(Instant::now()), Ordering::AcqRel);
        self.trusted_until.store(0, Ordering::Release);
        self.advance();
    }

    /// A renewal sent at `sent` succeeded. The lease in the database runs from the server's
    /// clock when it ran the statement, which is later than `sent`; trust ends a tenth early
    /// to leave room for the two clocks running at slightly different rates.
    fn renewed(&self, sent: Instant) {
        let sent = self.nanos(sent);
        if sent <= self.distrusted_at.load(Ordering::Acquire) {
            return;
        }
        let until = sent + (self.lease.as_nanos() as u64) * 9 / 10;
        if sent >= self.trusted_until.load(Ordering::Acquire) {
            // The lease may have lapsed meanwhile, and changes made then were not waited for.
            self.advance();
        }
        self.trusted_until.store(until, Ordering::Release);
    }
}

impl KeyFeed {
    /// Starts the lease keeper for this instance on the database at `url`.
    pub fn start(url: String, lease: Duration) -> Self {
        let instance = hex::encode(rand::random::<[u8; 12]>());
        let shared = Arc::new(FeedState {
            epoch: Instant::now(),
            trusted_until: AtomicU64::new(0),
            generation: AtomicU64::new(1),
            distrusted_at: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            lease,
            instance,
        });
        let weak = Arc::downgrade(&shared);
        let spawned =
            std::thread::Builder::new().name("keyward-key-feed".into()).spawn(move || keep_lease(weak, url));
        if let Err(error) = spawned {
            tracing::warn!(%error, "the key feed could not start; every verification reads the database");
        }
        Self { shared }
    }

    pub fn stamp(&self) -> Option<KeyStamp> {
        self.shared.stamp().map(|generation| KeyStamp::Feed { generation })
    }

    /// The stamp and version for a read about to be made, if what it reads may be kept.
    pub fn validity(&self) -> KeyValidity {
        self.shared
            .stamp()
            .map(|generation| (KeyStamp::Feed { generation }, KeyVersion { epoch: generation, seq: 0 }))
    }

    /// Stops answering from memory until the next renewal sent from now on succeeds: for the
    /// database layer, when a request of this instance found the database gone.
    pub fn distrust(&self) {
        self.shared.distrust();
    }

    /// True while this instance answers from memory (for `/readyz` and the tests).
    pub fn is_trusted(&self) -> bool {
        self.shared.stamp().is_some()
    }
}

impl Drop for KeyFeed {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

/// The keeper thread: connect, listen, renew, acknowledge; on any failure distrust memory,
/// wait a little and start again. Ends when the feed is dropped, giving up its lease so no
/// one waits for it.
fn keep_lease(state: Weak<FeedState>, url: String) {
    let mut backoff = Duration::from_millis(50);
    let mut failing = false;
    loop {
        let Some(s) = state.upgrade() else { return };
        if s.stop.load(Ordering::Relaxed) {
            return;
        }
        match Keeper::start(&s, &url) {
            Ok(mut keeper) => {
                if std::mem::take(&mut failing) {
                    tracing::info!("key feed back: verifications are answered from memory again");
                }
                backoff = Duration::from_millis(50);
                drop(s);
                let ended = keeper.serve(&state);
                let Some(s) = state.upgrade() else {
                    keeper.release();
                    return;
                };
                s.distrust();
                match ended {
                    Ok(()) => {
                        keeper.release();
                        return;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "key feed lost; every verification reads the database until it is back");
                        failing = true;
                    }
                }
            }
            Err(error) => {
                s.distrust();
                if !failing {
                    tracing::warn!(%error, "key feed cannot start; every verification reads the database until it can");
                    failing = true;
                }
            }
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

struct Keeper {
    session: PgSession,
    instance: String,
    lease_ms: u128,
    /// The newest change applied (memory forgotten) and acknowledged.
    applied: i64,
}

impl Keeper {
    /// Connects, listens, and takes the lease. Memory is forgotten after LISTEN is in place,
    /// so every change is either already in the database for the next read or still to be
    /// announced.
    fn start(state: &FeedState, url: &str) -> Result<Self, DbError> {
        let session = PgSession::connect(url).map_err(|e| DbError::Unavailable(e.to_string()))?;
        let mut keeper =
            Self { session, instance: state.instance.clone(), lease_ms: state.lease.as_millis(), applied: 0 };
        keeper.run("LISTEN keyward_key_changes")?;
        let seq = keeper.run("SELECT seq FROM key_changes WHERE id = 1")?;
        keeper.applied = seq.and_then(|s| s.parse().ok()).unwrap_or(0);
        // Leases that lapsed long ago belong to instances that are gone.
        keeper.run(
            "DELETE FROM verifier_leases WHERE expires_at < (now() AT TIME ZONE 'UTC') - interval '1 hour'",
        )?;
        state.advance();
        let sent = Instant::now();
        keeper.write_lease()?;
        state.renewed(sent);
        Ok(keeper)
    }

    fn run(&mut self, sql: &str) -> Result<Option<String>, DbError> {
        self.session.query(sql).map_err(|e| DbError::Unavailable(e.to_string()))
    }

    /// Renews the lease and records the newest change applied, in one statement.
    fn write_lease(&mut self) -> Result<(), DbError> {
        // Only our own hex id and numbers are formatted in.
        let sql = format!(
            "INSERT INTO verifier_leases (instance_id, expires_at, acked_seq) \
             VALUES ('{id}', (now() AT TIME ZONE 'UTC') + interval '{ms} milliseconds', {seq}) \
             ON CONFLICT (instance_id) DO UPDATE SET expires_at = EXCLUDED.expires_at, \
             acked_seq = GREATEST(verifier_leases.acked_seq, EXCLUDED.acked_seq)",
            id = self.instance,
            ms = self.lease_ms,
            seq = self.applied,
        );
        self.run(&sql).map(drop)
    }

    /// Gives the lease up (at shutdown), so no change waits for this instance.
    fn release(&mut self) {
        let sql = format!("DELETE FROM verifier_leases WHERE instance_id = '{}'", self.instance);
        let _ = self.run(&sql);
    }

    /// Waits for notifications until the next renewal is due; applies and acknowledges each at
    /// once. Returns `Ok` when the feed is dropped, an error when the connection is lost.
    fn serve(&mut self, state: &Weak<FeedState>) -> Result<(), DbError> {
        let Some(s) = state.upgrade() else { return Ok(()) };
        let every = s.lease / RENEW_FRACTION;
        drop(s);
        let mut next_renewal = Instant::now() + every;
        loop {
            let wait = next_renewal.saturating_duration_since(Instant::now());
            let payloads =
                self.session.wait_for_notifications(wait).map_err(|e| DbError::Unavailable(e.to_string()))?;
            let Some(s) = state.upgrade() else { return Ok(()) };
            if s.stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            let newest = payloads.iter().filter_map(|p| p.parse::<i64>().ok()).max();
            let changed = newest.is_some_and(|n| n > self.applied);
            if changed {
                // Forget first, acknowledge after: once the changing request hears of the
                // acknowledgement, no request here can find the old record in memory.
                s.advance();
                self.applied = newest.unwrap_or(self.applied);
            }
            if changed || Instant::now() >= next_renewal {
                let sent = Instant::now();
                self.write_lease()?;
                s.renewed(sent);
                next_renewal = sent + every;
            }
        }
    }
}
