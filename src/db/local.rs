//! A per-thread SQLite connection for the verifier's hot read.
//!
//! The verifier's lookup is one indexed point query that SQLite answers in microseconds.
//! Sending it to the blocking pool costs more than the query itself (a thread hand-off and a
//! pool checkout each way), so on SQLite it runs right on the HTTP worker thread, on a
//! connection that thread keeps. Each statement reads the latest committed state (WAL), so a
//! revocation is seen on the next request exactly as through the pool. PostgreSQL answers over
//! the network and keeps using the pool off the worker threads.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use diesel::QueryResult;

use super::{DbConnection, DbError};

thread_local! {
    static LOCAL: RefCell<Option<(PathBuf, DbConnection)>> = const { RefCell::new(None) };
}

/// Runs `f` on this thread's connection to the SQLite file at `path`, opening it on first use.
/// Any error drops the connection, so the next call starts afresh (a restored file, a
/// recovered disk) without a restart.
pub fn with_sqlite<T>(
    path: &Path,
    f: impl FnOnce(&mut DbConnection) -> QueryResult<T>,
) -> Result<T, DbError> {
    LOCAL.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(p, _)| p != path) {
            let conn = super::open_sqlite(path)?;
            *slot = Some((path.to_path_buf(), conn));
        }
        let (_, conn) = slot.as_mut().expect("set above");
        let result = f(conn);
        if result.is_err() {
            *slot = None;
        }
        result.map_err(DbError::from)
    })
}

/// Forgets this thread's connection (after the file was found missing: a file put back later
/// is a new file, and the old connection would still read the deleted one).
pub fn forget_sqlite() {
    LOCAL.with(|cell| cell.borrow_mut().take());
}
