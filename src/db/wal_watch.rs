//! Noticing any commit to a SQLite database, from any connection in any process, in one read.
//!
//! In WAL mode SQLite keeps a WAL-index in the `<db>-shm` file, and every committing
//! transaction rewrites its 48-byte header: `iChange` goes up by one per commit, `mxFrame`
//! moves, and the salts change whenever the WAL restarts (sqlite.org/walformat.html, "The
//! WAL-Index Header"; `sqlite3WalFrames` in sqlite3.c). So two equal reads of those bytes mean
//! nothing was committed in between, which lets the verifier trust what it cached at the first
//! read without asking SQLite again (a read transaction costs file locks and a B-tree probe).
//!
//! The header is read through a shared mapping of the `-shm` file, as SQLite itself reads it:
//! no system call per request. A mapping shares the page cache with every other process's
//! mapping of the file, so a read made after a commit returned sees that commit's header. A
//! read racing a commit may see a mix of old and new bytes; that either differs from the old
//! header (a harmless cache miss) or equals it, in which case the commit had not finished and
//! its writer had not yet answered anyone.
//!
//! SQLite deletes `-shm` when the last connection to the database closes and makes a new one
//! on the next open; a handle on the deleted file would then never change again. The watch
//! therefore keeps a connection of its own open for as long as it lives, so there is never a
//! last connection to close while it watches. That connection also keeps SQLite from
//! truncating the file under the mapping (it does so only when it opens the WAL-index with no
//! other connection to the database, and only then could a read of the mapping fault).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use parking_lot::Mutex;

use super::{DbConnection, DbError};

/// What the database had committed when it was taken: two equal stamps mean no commit came in
/// between. Opaque outside this module (it is the first copy of the WAL-index header, bytes
/// 0..48 of `-shm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChangeStamp([u8; 48]);

/// How long to wait before trying again to watch a database that could not be watched.
const RETRY_WATCH: Duration = Duration::from_secs(1);

/// A [`WalWatch`] opened on first use, and opened afresh after the `-shm` file was replaced.
#[derive(Default)]
pub(super) struct ChangeWatch {
    slot: Mutex<WatchSlot>,
}

#[derive(Default)]
enum WatchSlot {
    #[default]
    NotYet,
    Watching(WalWatch),
    FailedAt(Instant),
}

impl ChangeWatch {
    /// The database's current stamp, or `None` when it cannot be told (no WAL-index, or it
    /// cannot be read): then nothing may be trusted as unchanged.
    pub(super) fn stamp(&self, db_path: &Path) -> Option<ChangeStamp> {
        // The header is read under the lock: a few loads, cheaper than sharing the watch out.
        let mut slot = self.slot.lock();
        match &*slot {
            WatchSlot::Watching(w) => Some(w.stamp()),
            WatchSlot::FailedAt(at) if at.elapsed() < RETRY_WATCH => None,
            _ => match WalWatch::open(db_path) {
                Ok(w) => {
                    let stamp = w.stamp();
                    *slot = WatchSlot::Watching(w);
                    Some(stamp)
                }
                Err(error) => {
                    tracing::debug!(%error, "commits cannot be watched; nothing is kept between reads");
                    *slot = WatchSlot::FailedAt(Instant::now());
                    None
                }
            },
        }
    }

    /// Drops the watch (the database file went away); the next stamp opens a new one.
    pub(super) fn reset(&self) {
        *self.slot.lock() = WatchSlot::NotYet;
    }
}

pub struct WalWatch {
    header: HeaderMap,
    /// Held, never used: while it is open SQLite will not delete or truncate the `-shm` file.
    _keeper: parking_lot::Mutex<DbConnection>,
}

/// A read-only shared mapping of the first page of `-shm`, unmapped on drop.
struct HeaderMap {
    base: std::ptr::NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is read-only for us and only ever read through volatile loads; the
// pointer stays valid until drop.
unsafe impl Send for HeaderMap {}
unsafe impl Sync for HeaderMap {}

impl HeaderMap {
    fn map(file: &File) -> std::io::Result<Self> {
        let len = 4096;
        if file.metadata()?.len() < len as u64 {
            return Err(std::io::Error::other("the WAL-index is shorter than its header"));
        }
        // SAFETY: a fresh read-only shared mapping of an open file, at least `len` bytes long.
        let base = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, file.as_raw_fd(), 0)
        };
        if base == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let base = std::ptr::NonNull::new(base.cast::<u8>()).ok_or_else(|| std::io::Error::other("mmap"))?;
        Ok(Self { base, len })
    }

    fn read(&self) -> [u8; 48] {
        // SAFETY: the first 48 bytes of a live, page-aligned mapping. Volatile: another process
        // changes them behind the compiler's back, and each call must really read them.
        let words = unsafe { std::ptr::read_volatile(self.base.as_ptr().cast::<[u64; 6]>()) };
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        let mut bytes = [0u8; 48];
        for (chunk, word) in bytes.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&word.to_ne_bytes());
        }
        bytes
    }
}

impl Drop for HeaderMap {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what `map` mapped, once.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

impl WalWatch {
    /// Opens a connection of its own and the database's `-shm` file. Fails when the database
    /// is not in WAL mode (no `-shm`), which leaves the caller without a cache, not wrong.
    pub fn open(db_path: &Path) -> Result<Self, DbError> {
        let mut keeper = super::open_sqlite(db_path)?;
        // A first read transaction makes SQLite create and map the WAL-index.
        keeper.batch_execute("SELECT count(*) FROM sqlite_master;")?;
        let mut shm_path = db_path.as_os_str().to_owned();
        shm_path.push("-shm");
        let shm_path = PathBuf::from(shm_path);
        let shm = File::open(&shm_path)
            .and_then(|f| HeaderMap::map(&f))
            .map_err(|e| DbError::Unavailable(format!("{}: {e}", shm_path.display())))?;
        Ok(Self { header: shm, _keeper: Mutex::new(keeper) })
    }

    /// The current header.
    pub fn stamp(&self) -> ChangeStamp {
        ChangeStamp(self.header.read())
    }
}

#[cfg(test)]
mod tests {
    use diesel::RunQueryDsl;

    use super::*;

    fn fresh_db(dir: &Path) -> PathBuf {
        let path = dir.join("watch.db");
        let url = crate::config::DatabaseUrl::Sqlite(path.clone());
        super::super::prepare_sqlite_path(&url).unwrap();
        path
    }

    #[test]
    fn every_commit_from_another_connection_changes_the_stamp_and_reads_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = fresh_db(dir.path());
        let watch = WalWatch::open(&path).expect("WAL mode");
        let mut other = super::super::open_sqlite(&path).unwrap();
        other.batch_execute("CREATE TABLE t (x INTEGER)").unwrap();
        let mut last = watch.stamp();
        for i in 0..20 {
            other.batch_execute(&format!("INSERT INTO t VALUES ({i})")).unwrap();
            let now = watch.stamp();
            assert_ne!(now, last, "commit {i} went unnoticed");
            last = now;
        }
        let n: i64 =
            diesel::dsl::select(diesel::dsl::sql::<diesel::sql_types::BigInt>("(SELECT count(*) FROM t)"))
                .get_result(&mut other)
                .unwrap();
        assert_eq!(n, 20);
        assert_eq!(watch.stamp(), last, "a read is not a change");
        // A checkpoint that restarts the WAL, then one more commit: still noticed.
        other.batch_execute("PRAGMA wal_checkpoint(TRUNCATE); INSERT INTO t VALUES (99)").unwrap();
        assert_ne!(watch.stamp(), last);
    }
}
