//! The database layer: one diesel codebase for SQLite and PostgreSQL.
//!
//! Error policy: model code returns `diesel::QueryResult`; [`Db::run`] and [`Db::write`] move
//! the work onto a blocking thread and turn pool failures into [`DbError::Unavailable`], which
//! every web layer maps to 503 (the verifier fails closed, never open).

mod file_watch;
pub mod instance_settings;
pub mod key_changes;
mod local;
pub mod migrations;
mod pg_session;
pub mod schema;
mod wal_watch;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, CustomizeConnection, ManageConnection, R2D2Connection};
use diesel::{PgConnection, SqliteConnection};

use crate::config::DatabaseUrl;

pub use key_changes::{KeyStamp, KeyValidity, KeyVersion};
pub use migrations::run_migrations;
pub use wal_watch::ChangeStamp;

/// A connection to whichever backend the URL named.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// Why a database call failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had: the database is down, unreachable or locked out.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error("migrations failed: {0}")]
    Migration(String),
}

/// How long a request waits for a pooled connection while the database answers.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long it waits once the last attempt to connect failed (and the slice it waits in
/// otherwise, to notice an outage that begins meanwhile): the database is known to be
/// gone, so a request gets its 503 at once instead of queueing behind the outage. The pool
/// keeps retrying in the background, and the first success lifts this.
const CHECKOUT_TIMEOUT_WHILE_DOWN: Duration = Duration::from_millis(250);

/// Opens connections for r2d2 with the driver of the backend the URL names. The rest is
/// r2d2's: [`Setup`] configures each new connection and [`ConnectFailures`] hears of each
/// failed attempt.
///
/// diesel's `r2d2::ConnectionManager<DbConnection>` was tried in this place and measured. It
/// opens through the derived `DbConnection::establish`, which tries PostgreSQL and then SQLite
/// on the same string and drops both errors: during a PostgreSQL outage every log line and
/// every 503 reason read "Invalid connection url for multiconnection", which sends an operator
/// to the configuration instead of the server. It also hands a PostgreSQL URL to SQLite as a
/// file name (`postgres://u@h/db?…` is a file in the folder `postgres:/u@h`, created whenever
/// such a folder exists). Connecting here keeps the driver's reason ("Connection refused",
/// "timeout expired", "unable to open database file") and opens only the backend named.
#[derive(Debug)]
pub struct ConnectionManager {
    url: DatabaseUrl,
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        open(&self.url).map_err(r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

/// A new connection with the driver of the backend `url` names, not yet configured.
fn open(url: &DatabaseUrl) -> Result<DbConnection, diesel::ConnectionError> {
    match url {
        DatabaseUrl::Sqlite(path) => {
            // Never create the file here: `prepare_sqlite_path` made it at start-up, so a
            // missing file means it was moved or deleted. Creating an empty one would turn an
            // outage into "no such table" errors and hide the real file when it returns.
            let uri = sqlite_uri_without_create(path).ok_or_else(|| {
                diesel::ConnectionError::BadConnection("SQLite path is not valid UTF-8".into())
            })?;
            SqliteConnection::establish(&uri).map(DbConnection::Sqlite)
        }
        DatabaseUrl::Postgres(url) => {
            PgConnection::establish(&with_connect_timeout(url)).map(DbConnection::Postgresql)
        }
    }
}

/// A configured connection outside the pool (the start-up probe, [`open_sqlite`]).
fn establish(url: &DatabaseUrl) -> Result<DbConnection, r2d2::Error> {
    let mut conn = open(url)?;
    configure(&mut conn)?;
    Ok(conn)
}

/// The settings every new connection gets before use: for SQLite the busy timeout, WAL,
/// `synchronous = NORMAL` and foreign keys (PostgreSQL needs none).
fn configure(conn: &mut DbConnection) -> diesel::QueryResult<()> {
    let DbConnection::Sqlite(conn) = conn else { return Ok(()) };
    conn.batch_execute(&format!("PRAGMA busy_timeout = {};", SQLITE_BUSY_TIMEOUT.as_millis()))?;
    switch_to_wal(conn)?;
    conn.batch_execute("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
}

/// Configures each connection the pool opens, and clears the `down` flag once one is ready.
#[derive(Debug)]
struct Setup {
    /// Set by [`ConnectFailures`] when an attempt to connect failed, cleared by the next success.
    down: Arc<AtomicBool>,
}

impl CustomizeConnection<DbConnection, r2d2::Error> for Setup {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        configure(conn)?;
        self.down.store(false, Ordering::Relaxed);
        Ok(())
    }
}

/// Hears of every failed attempt by the pool to open or configure a connection (r2d2 retries
/// them in the background): sets the `down` flag and logs the failure once.
#[derive(Debug)]
struct ConnectFailures {
    down: Arc<AtomicBool>,
}

impl r2d2::HandleError<r2d2::Error> for ConnectFailures {
    fn handle_error(&self, error: r2d2::Error) {
        self.down.store(true, Ordering::Relaxed);
        tracing::warn!(%error, "database connection failed");
    }
}

/// How long an SQLite statement waits for another connection's lock before "database is locked".
const SQLITE_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Puts the file in WAL mode (a no-op once it is). Changing the journal mode can answer
/// "database is locked" at once, without waiting out `busy_timeout`, while another process
/// opens or migrates the same file (seen with four instances starting on one new file), so the
/// switch is retried for as long as `busy_timeout` would have waited.
fn switch_to_wal(conn: &mut SqliteConnection) -> diesel::QueryResult<()> {
    let deadline = std::time::Instant::now() + SQLITE_BUSY_TIMEOUT;
    loop {
        match conn.batch_execute("PRAGMA journal_mode = WAL;") {
            Err(diesel::result::Error::DatabaseError(_, info))
                if info.message().contains("locked") && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// libpq waits for an unanswering host as long as TCP does (minutes), so a start against a
/// wrong address would hang instead of failing with its one line. Unless the URL sets its own
/// `connect_timeout`, give up after this long.
const PG_CONNECT_TIMEOUT_SECS: u32 = 10;

fn with_connect_timeout(url: &str) -> String {
    with_param(url, "connect_timeout", &PG_CONNECT_TIMEOUT_SECS.to_string())
}

/// `url` with `name=value` added to its query, unless it already sets `name`.
fn with_param(url: &str, name: &str, value: &str) -> String {
    let has_own = url::Url::parse(url).is_ok_and(|u| u.query_pairs().any(|(k, _)| k == name));
    if has_own {
        return url.to_owned();
    }
    let sep = match url.find('?') {
        None => "?",
        Some(i) if i + 1 == url.len() || url.ends_with('&') => "",
        Some(_) => "&",
    };
    format!("{url}{sep}{name}={value}")
}

/// `file:PATH?mode=rw`: opens an existing SQLite file for reading and writing, never creates one.
fn sqlite_uri_without_create(path: &std::path::Path) -> Option<String> {
    let raw = path.to_str()?;
    let mut uri = String::from("file:");
    for c in raw.chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str("?mode=rw");
    Some(uri)
}

/// A connection of its own to an existing SQLite file, outside the pool, with the same pragmas
/// (the verifier's per-thread reads, the WAL watch's keeper).
fn open_sqlite(path: &std::path::Path) -> Result<DbConnection, DbError> {
    establish(&DatabaseUrl::Sqlite(path.to_path_buf())).map_err(|e| DbError::Unavailable(e.to_string()))
}

pub type Pool = r2d2::Pool<ConnectionManager>;

/// The shared handle to the database. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    url: Arc<DatabaseUrl>,
    /// SQLite allows one writer. Serialising our own writers here means a transaction that
    /// reads and then writes never meets `SQLITE_BUSY` from a sibling connection; other
    /// processes are still covered by `busy_timeout`.
    write_lock: Arc<parking_lot::Mutex<()>>,
    down: Arc<AtomicBool>,
    /// SQLite: whether the file is still at its path, cheaply (see [`file_watch`]).
    file: Option<Arc<file_watch::FileWatch>>,
    /// SQLite: whether anything was committed since a given moment (see [`wal_watch`]).
    changes: Option<Arc<wal_watch::ChangeWatch>>,
    /// PostgreSQL, in a serving instance: its lease and key-change listener (see
    /// [`key_changes`]).
    feed: Option<Arc<key_changes::KeyFeed>>,
}

impl Db {
    /// Builds the pool and checks that one connection can be opened.
    pub fn connect(url: &DatabaseUrl, pool_size: u32) -> Result<Self, DbError> {
        // libpq speaks TLS through OpenSSL from the pool's threads. By default OpenSSL frees
        // its tables in an exit handler, while a pool thread may still be mid-handshake: the
        // process then crashes on its way out (a segfault after `keyward admin create` had
        // printed its result, under load). Initialising it first without that handler leaves
        // the clean-up to the operating system.
        openssl_sys::init();
        // One direct attempt first: a bad start then fails at once with the driver's own
        // message, instead of after the pool's timeout with a generic one.
        drop(establish(url).map_err(|e| DbError::Unavailable(e.to_string()))?);
        let down = Arc::new(AtomicBool::new(false));
        let pool = r2d2::Pool::builder()
            .connection_customizer(Box::new(Setup { down: down.clone() }))
            .error_handler(Box::new(ConnectFailures { down: down.clone() }))
            .max_size(pool_size)
            .min_idle(Some(1))
            .connection_timeout(CHECKOUT_TIMEOUT)
            .test_on_check_out(false)
            .build(ConnectionManager { url: url.clone() })
            .map_err(|e| DbError::Unavailable(describe_pool_error(&e.to_string())))?;
        let file = url.sqlite_path().map(|p| Arc::new(file_watch::FileWatch::new(p)));
        let changes = url.sqlite_path().map(|_| Arc::default());
        Ok(Self {
            pool,
            url: Arc::new(url.clone()),
            write_lock: Default::default(),
            down,
            file,
            changes,
            feed: None,
        })
    }

    /// PostgreSQL: starts this instance's lease and key-change listener, so the verifier may
    /// answer from memory (see [`key_changes`]). Nothing to do on SQLite.
    pub fn start_key_feed(&mut self, lease: Duration) {
        if let DatabaseUrl::Postgres(url) = &*self.url {
            // Named, so an operator (and the tests) can tell its connection in pg_stat_activity.
            let url = with_param(&with_connect_timeout(url), "application_name", "keyward-key-feed");
            self.feed = Some(Arc::new(key_changes::KeyFeed::start(url, lease)));
        }
    }

    /// PostgreSQL: the key feed, when started.
    pub fn key_feed(&self) -> Option<&key_changes::KeyFeed> {
        self.feed.as_deref()
    }

    /// The pool right now: (connections in use, idle connections, the size limit).
    pub fn pool_state(&self) -> (u32, u32, u32) {
        let s = self.pool.state();
        (s.connections - s.idle_connections, s.idle_connections, self.pool.max_size())
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(*self.url, DatabaseUrl::Sqlite(_))
    }

    /// A pooled connection, for code that is already on a blocking thread.
    ///
    /// Fails fast with [`DbError::Unavailable`] when the database is known to be gone: the
    /// last connection attempt failed, or the SQLite file is no longer there (open
    /// connections would otherwise go on reading and writing the vanished file).
    pub fn get(&self) -> Result<r2d2::PooledConnection<ConnectionManager>, DbError> {
        self.check_sqlite_file()?;
        // Wait in short slices: a request that began waiting just before an outage must notice
        // it (the `down` flag) and answer 503 promptly, not sit out the whole timeout and then
        // answer long after its client gave up.
        let deadline = std::time::Instant::now() + CHECKOUT_TIMEOUT;
        loop {
            match self.pool.get_timeout(CHECKOUT_TIMEOUT_WHILE_DOWN) {
                Ok(conn) => return Ok(conn),
                Err(e) => {
                    if self.down.load(Ordering::Relaxed) || std::time::Instant::now() >= deadline {
                        self.database_lost();
                        return Err(DbError::Unavailable(describe_pool_error(&e.to_string())));
                    }
                }
            }
        }
    }

    /// Runs read work on a blocking thread.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.get()?;
            let result = f(&mut conn);
            db.lost_connection(&mut conn, result)
        })
        .await
        .unwrap_or_else(|e| Err(DbError::Unavailable(format!("database task failed: {e}")).into()))
    }

    /// Runs write work on a blocking thread inside one transaction.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.write_blocking(f))
            .await
            .unwrap_or_else(|e| Err(DbError::Unavailable(format!("database task failed: {e}")).into()))
    }

    /// [`Db::write`] for code already on a blocking thread (the usage flusher, the CLI).
    pub fn write_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E>,
        E: From<DbError> + From<diesel::result::Error>,
    {
        let mut conn = self.get()?;
        let _guard = self.is_sqlite().then(|| self.write_lock.lock());
        let conn: &mut DbConnection = &mut conn;
        let result = match conn {
            DbConnection::Sqlite(_) => immediate_transaction(conn, f).map(|out| (out, None)),
            DbConnection::Postgresql(_) => conn.transaction(|conn| -> Result<(T, Option<i64>), E> {
                let out = f(conn)?;
                Ok((out, key_changes::pending_change(conn)?))
            }),
        };
        let (out, change) = self.lost_connection(conn, result)?;
        if let Some(seq) = change {
            // Committed: now every instance that answers from memory must have heard of it
            // before anyone is told it is done.
            if let Err(error) = key_changes::wait_for_acknowledgements(conn, seq) {
                tracing::warn!(%error, change = seq, "could not confirm that every instance heard of a key change");
            }
        }
        Ok(out)
    }

    /// A query that failed because the connection died (the server went away, the backend was
    /// terminated) is an outage, not a bug: it becomes [`DbError::Unavailable`] (503), like a
    /// failed checkout. The failed query itself may come back as an ordinary error (PostgreSQL's
    /// "terminating connection" arrives as a result before libpq marks the connection bad), so a
    /// failure is followed by a ping; a dead connection is then marked broken by diesel and r2d2
    /// drops it on return, so the next request gets a fresh one.
    fn lost_connection<T, E: From<DbError>>(
        &self,
        conn: &mut DbConnection,
        result: Result<T, E>,
    ) -> Result<T, E> {
        match result {
            Err(_) if conn.is_broken() || conn.ping().is_err() => {
                self.database_lost();
                Err(DbError::Unavailable("the database connection was lost".into()).into())
            }
            other => other,
        }
    }

    /// This instance just saw the database fail. On PostgreSQL the verifier stops answering
    /// from memory at once, until the key feed renews its lease again: the feed's own
    /// connection may not have noticed yet (its thread may not have run since the server went
    /// away), and once a request was answered 503 for the database, no later one may be
    /// answered from memory as if it were there.
    fn database_lost(&self) {
        if let Some(feed) = &self.feed {
            feed.distrust();
        }
    }

    /// For SQLite, fails when the file is no longer at its path. Every read path checks this
    /// ([`Db::get`], and the verifier's per-thread connection), so none keeps answering from a
    /// moved or deleted file.
    pub fn check_sqlite_file(&self) -> Result<(), DbError> {
        match &self.file {
            Some(file) if !file.is_present() => {
                Err(DbError::Unavailable(format!("SQLite file {} is missing", file.path().display())))
            }
            _ => Ok(()),
        }
    }

    /// For `/readyz`: `memory` while the verifier may answer from memory, else `database`
    /// (with the reason on PostgreSQL, where an instance without its lease reads every key).
    pub fn key_cache_mode(&self) -> &'static str {
        match (&self.feed, self.key_stamp()) {
            (_, Some(_)) => "memory",
            (Some(_), None) => "database (no lease: listener reconnecting)",
            (None, None) => "database",
        }
    }

    /// The stamp the verifier's cache is valid under right now, read without a system call or
    /// a query; `None` when memory may not be trusted (see [`key_changes`]).
    pub fn key_stamp(&self) -> Option<KeyStamp> {
        if let Some(feed) = &self.feed {
            return feed.stamp();
        }
        let (file, changes, path) = (self.file.as_ref()?, self.changes.as_ref()?, self.url.sqlite_path()?);
        let file_events = file.events()?;
        let header = changes.stamp(path)?;
        Some(KeyStamp::Wal { header, file_events })
    }

    /// A short read made on every verification: one lookup by a unique index.
    ///
    /// On SQLite it runs right on the calling thread, on a connection that thread keeps (see
    /// [`local`]): a point read of a local file takes microseconds, less than the hand-off to
    /// the blocking pool. PostgreSQL answers over the network, so there it goes through
    /// [`Db::run`]. Either way a missing SQLite file fails it with [`DbError::Unavailable`].
    ///
    /// Returns, beside the result, the stamp taken before the read and the version what it read
    /// is valid under (`None`: do not keep it), for the verifier's cache. `known` is the stamp
    /// and version the cache already holds: on SQLite, while the stamp is still that one,
    /// nothing was committed since, and the version is not read again.
    pub async fn point_read_keys<T, F>(&self, known: KeyValidity, f: F) -> Result<(KeyValidity, T), DbError>
    where
        F: FnOnce(&mut DbConnection) -> diesel::QueryResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let Some(path) = self.url.sqlite_path() else {
            let validity = self.feed.as_ref().and_then(|feed| feed.validity());
            return self.run(move |conn| f(conn).map(|t| (validity, t)).map_err(DbError::from)).await;
        };
        // In this order: each is taken before what it vouches for is read.
        let file_events = self.file.as_ref().and_then(|f| f.events());
        let header = self.changes.as_ref().and_then(|c| c.stamp(path));
        if let Err(gone) = self.check_sqlite_file() {
            local::forget_sqlite();
            if let Some(changes) = &self.changes {
                changes.reset();
            }
            return Err(gone);
        }
        local::with_sqlite(path, |conn| {
            let validity = match (file_events, header) {
                (Some(file_events), Some(header)) => match known {
                    Some((stamp, version)) if stamp == (KeyStamp::Wal { header, file_events }) => {
                        Some((stamp, version))
                    }
                    _ => Some(key_changes::sqlite_version(conn, header, file_events)?),
                },
                _ => None,
            };
            Ok((validity, f(conn)?))
        })
    }

    /// True when a connection can be had and answers a trivial query (through [`Db::get`],
    /// so a missing SQLite file counts as not ready).
    pub async fn is_ready(&self) -> bool {
        self.run(|conn| conn.ping().map_err(DbError::from)).await.is_ok()
    }
}

/// SQLite: runs `f` in a transaction that takes the write lock at its start (`BEGIN
/// IMMEDIATE`). A deferred one reads first and asks for the lock at its first write; if
/// another process (a second instance on the file) committed in between, SQLite refuses that
/// upgrade at once with "database is locked", without waiting out `busy_timeout`. Taking the
/// lock first makes the wait apply, so concurrent writers queue instead of failing.
fn immediate_transaction<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let DbConnection::Sqlite(inner) = conn else { unreachable!("called for SQLite only") };
    AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?;
    match f(conn) {
        Ok(out) => match <DbConnection as TransactionManager<DbConnection>>::commit_transaction(conn) {
            Ok(()) => Ok(out),
            Err(e) => {
                let _ = <DbConnection as TransactionManager<DbConnection>>::rollback_transaction(conn);
                Err(e.into())
            }
        },
        Err(e) => {
            let _ = <DbConnection as TransactionManager<DbConnection>>::rollback_transaction(conn);
            Err(e)
        }
    }
}

/// r2d2 reports a timeout without the cause; this keeps its text but reads plainly.
fn describe_pool_error(text: &str) -> String {
    if text.is_empty() { "could not open a database connection".into() } else { text.to_owned() }
}

/// Makes sure a SQLite file's folder exists and can be written, with a plain error otherwise.
pub fn prepare_sqlite_path(url: &DatabaseUrl) -> Result<(), DbError> {
    use std::os::unix::fs::OpenOptionsExt;
    let Some(path) = url.sqlite_path() else { return Ok(()) };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(DbError::Unavailable(format!("SQLite folder {} does not exist", dir.display())));
    }
    // Created private: it holds password hashes and the audit log. SQLite gives the `-wal` and
    // `-shm` files it makes the database file's mode, so they are private too.
    let probe = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path);
    probe
        .map(drop)
        .map_err(|e| DbError::Unavailable(format!("cannot write SQLite file {}: {e}", path.display())))?;
    make_private(path);
    Ok(())
}

/// Takes group and other access away from a database made before keyward created them
/// private (or copied in by hand), and from its `-wal` / `-shm` files.
fn make_private(database: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let name = database.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    for suffix in ["", "-wal", "-shm"] {
        let file = database.with_file_name(format!("{name}{suffix}"));
        let Ok(meta) = std::fs::metadata(&file) else { continue };
        let mode = meta.permissions().mode();
        if mode & 0o077 == 0 {
            continue;
        }
        match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode & 0o700)) {
            Ok(()) => tracing::info!(file = %file.display(), "made the database file private (mode 600)"),
            Err(e) => {
                tracing::warn!(file = %file.display(), error = %e, "cannot make the database file private")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_connect_timeout;

    #[test]
    fn a_postgres_url_gets_a_connect_timeout_unless_it_has_one() {
        assert_eq!(with_connect_timeout("postgres://u@h/db"), "postgres://u@h/db?connect_timeout=10");
        assert_eq!(
            with_connect_timeout("postgres://u@h/db?sslmode=require"),
            "postgres://u@h/db?sslmode=require&connect_timeout=10"
        );
        assert_eq!(with_connect_timeout("postgres://u@h/db?"), "postgres://u@h/db?connect_timeout=10");
        assert_eq!(
            with_connect_timeout("postgres://u@h/db?connect_timeout=3"),
            "postgres://u@h/db?connect_timeout=3"
        );
    }
}
