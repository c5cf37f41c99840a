//! Whether the SQLite file is still at its path, answered without a path lookup while nothing
//! has happened to it.
//!
//! Open connections keep reading a moved or deleted file, so every read first checks that the
//! path still names it. A `statx` of the path per request cost 7 % of the verifier's time in
//! profiles. Instead the file is watched with inotify for a move, a deletion (the link count
//! changing shows as `IN_ATTRIB`) or a permission change. The kernel queues the event inside
//! the `rename`/`unlink`/`chmod` call itself, so a non-blocking read of the queue afterwards
//! always sees it: a request that starts after the file was moved is refused exactly as with a
//! `statx`. Once anything is queued, the watch is dropped and every check goes back to looking
//! at the path, re-arming the watch when the file is there again.
//!
//! Where inotify is missing (not Linux, or the per-user instance limit is reached) every check
//! looks at the path itself.
//!
//! The verifier's cache hit path makes no system call at all, so it cannot read that queue.
//! For it, [`FileWatch::events`] is a counter that a thread of its own, blocked on a second
//! inotify watch of the file's folder, raises whenever anything happens to the file's name (a
//! move in or out, a deletion, a new file, a permission change). The cache keeps the counter
//! in its stamp, so the first request that sees it raised goes to the database, and that read
//! takes the strict path above. The folder is watched, not the file, so a file replaced by
//! another is seen just as well as one moved away. The thread is woken inside the `rename` or
//! `unlink` itself but runs when the scheduler gives it a core: a request that reaches the
//! cache before then (microseconds; longer on a loaded machine) may still be answered from
//! memory, with what the file held an instant before.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

impl Drop for FileWatch {
    fn drop(&mut self) {
        if let Some(events) = &self.events {
            events.stop();
        }
    }
}

pub struct FileWatch {
    path: PathBuf,
    /// `Some` while armed. The lock also makes reading the queue and disarming one step, so no
    /// request can see an empty queue while another has taken the event but not yet disarmed.
    state: Mutex<Option<imp::Watch>>,
    /// Raised by the folder watcher's thread on every event about the file; `None` when that
    /// thread could not start (then nothing may be kept in memory on the strength of it).
    events: Option<Arc<imp::EventCount>>,
}

impl FileWatch {
    pub fn new(path: &Path) -> Self {
        let events = imp::EventCount::spawn(path);
        Self { path: path.to_path_buf(), state: Mutex::new(None), events }
    }

    /// How many times something has happened to the file's name since the watch began, read
    /// without a system call; `None` when that cannot be told.
    pub fn events(&self) -> Option<u64> {
        self.events.as_ref().and_then(|e| e.get())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when the file is at its path (as far as anyone could tell at this instant).
    pub fn is_present(&self) -> bool {
        let mut state = self.state.lock();
        if let Some(watch) = state.as_ref() {
            if watch.quiet() {
                return true;
            }
            *state = None;
        }
        // Arm before looking, so a move between the look and the arming cannot go unseen.
        let watch = imp::Watch::new(&self.path);
        if !self.path.exists() {
            return false;
        }
        *state = watch;
        true
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use std::ffi::CString;
    use std::fs::File;
    use std::io::{ErrorKind, Read};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    pub struct Watch {
        queue: File,
    }

    /// The folder watcher's counter, and the flag that ends its thread.
    #[derive(Default)]
    pub struct EventCount {
        count: AtomicU64,
        broken: AtomicBool,
        stop: AtomicBool,
    }

    impl EventCount {
        /// Starts a thread that watches `path`'s folder and counts events about `path`.
        pub fn spawn(path: &Path) -> Option<Arc<Self>> {
            let name = path.file_name()?.to_owned();
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => std::path::PathBuf::from("."),
            };
            let c_dir = CString::new(dir.as_os_str().as_bytes()).ok()?;
            // SAFETY: inotify_init1 takes flags only and returns a new descriptor or -1.
            let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
            if fd < 0 {
                return None;
            }
            // SAFETY: fd was just returned by inotify_init1 and is owned by nothing else.
            let queue = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
            let mask = libc::IN_ATTRIB
                | libc::IN_MOVED_FROM
                | libc::IN_MOVED_TO
                | libc::IN_CREATE
                | libc::IN_DELETE
                | libc::IN_DELETE_SELF
                | libc::IN_MOVE_SELF;
            // SAFETY: the descriptor is open and c_dir is a NUL-terminated string.
            if unsafe { libc::inotify_add_watch(fd, c_dir.as_ptr(), mask) } < 0 {
                return None;
            }
            let counter = Arc::new(Self::default());
            let shared = counter.clone();
            std::thread::Builder::new()
                .name("keyward-file-watch".into())
                .spawn(move || shared.run(queue, name.as_bytes()))
                .ok()?;
            Some(counter)
        }

        pub fn get(&self) -> Option<u64> {
            let count = self.count.load(Ordering::Acquire);
            (!self.broken.load(Ordering::Acquire)).then_some(count)
        }

        pub fn stop(&self) {
            self.stop.store(true, Ordering::Relaxed);
        }

        fn run(&self, mut queue: File, name: &[u8]) {
            let mut buf = [0u8; 4096];
            while !self.stop.load(Ordering::Relaxed) {
                let mut poll = libc::pollfd { fd: queue.as_raw_fd(), events: libc::POLLIN, revents: 0 };
                // SAFETY: one valid pollfd; the timeout lets the thread notice `stop`.
                if unsafe { libc::poll(&mut poll, 1, 500) } <= 0 {
                    continue;
                }
                let n = match queue.read(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(_) => {
                        // The watch is broken: from now on nothing may be trusted on its word.
                        self.broken.store(true, Ordering::Release);
                        return;
                    }
                };
                if events_name(&buf[..n], name) {
                    self.count.fetch_add(1, Ordering::AcqRel);
                }
            }
        }
    }

    /// True when any event in the buffer is about `name`, or about the folder itself (moved,
    /// deleted, unwatched, or the queue overflowed).
    pub(super) fn events_name(buf: &[u8], name: &[u8]) -> bool {
        const HEADER: usize = std::mem::size_of::<libc::inotify_event>();
        let mut at = 0;
        while at + HEADER <= buf.len() {
            // SAFETY: a whole header lies within the buffer; read unaligned.
            let event: libc::inotify_event = unsafe { std::ptr::read_unaligned(buf[at..].as_ptr().cast()) };
            let len = event.len as usize;
            let end = (at + HEADER + len).min(buf.len());
            let raw = &buf[at + HEADER..end];
            let event_name = &raw[..raw.iter().position(|b| *b == 0).unwrap_or(raw.len())];
            if len == 0 || event_name == name || event.mask & libc::IN_Q_OVERFLOW != 0 {
                return true;
            }
            at += HEADER + len;
        }
        false
    }

    impl Watch {
        pub fn new(path: &Path) -> Option<Self> {
            let c_path = CString::new(path.as_os_str().as_bytes()).ok()?;
            // SAFETY: inotify_init1 takes flags only and returns a new descriptor or -1.
            let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
            if fd < 0 {
                return None;
            }
            // SAFETY: fd was just returned by inotify_init1 and is owned by nothing else.
            let queue = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
            let mask = libc::IN_ATTRIB | libc::IN_MOVE_SELF | libc::IN_DELETE_SELF;
            // SAFETY: the descriptor is open and c_path is a NUL-terminated string.
            let wd = unsafe { libc::inotify_add_watch(fd, c_path.as_ptr(), mask) };
            (wd >= 0).then_some(Self { queue })
        }

        /// True when no event is queued. Any event, or an error, counts as "look again".
        pub fn quiet(&self) -> bool {
            let mut buf = [0u8; 1024];
            matches!((&self.queue).read(&mut buf), Err(e) if e.kind() == ErrorKind::WouldBlock)
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::path::Path;
    use std::sync::Arc;

    pub struct Watch;

    pub struct EventCount;

    impl EventCount {
        pub fn spawn(_: &Path) -> Option<Arc<Self>> {
            None
        }

        pub fn get(&self) -> Option<u64> {
            None
        }

        pub fn stop(&self) {}
    }

    impl Watch {
        pub fn new(_: &Path) -> Option<Self> {
            None
        }

        pub fn quiet(&self) -> bool {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_move_a_deletion_and_a_return_are_each_seen_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.db");
        let away = dir.path().join("k.db.away");
        std::fs::write(&path, b"x").unwrap();
        let watch = FileWatch::new(&path);
        let held = std::fs::File::open(&path).unwrap(); // as a SQLite connection would
        for _ in 0..3 {
            assert!(watch.is_present());
        }
        std::fs::rename(&path, &away).unwrap();
        assert!(!watch.is_present(), "moved away");
        assert!(!watch.is_present());
        std::fs::rename(&away, &path).unwrap();
        assert!(watch.is_present(), "back");
        assert!(watch.is_present());
        std::fs::remove_file(&path).unwrap();
        assert!(!watch.is_present(), "deleted while still open");
        drop(held);
        std::fs::write(&path, b"y").unwrap();
        assert!(watch.is_present(), "a new file at the path");
    }
}

#[cfg(all(test, target_os = "linux"))]
mod folder_watch_tests {
    use super::*;

    fn wait_for_more_than(watch: &FileWatch, before: u64) -> u64 {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let now = watch.events().expect("the folder is watched");
            if now > before {
                return now;
            }
            assert!(std::time::Instant::now() < deadline, "no event counted after {before}");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn moves_deletions_replacements_and_permission_changes_raise_the_count() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.db");
        let away = dir.path().join("k.db.away");
        std::fs::write(&path, b"x").unwrap();
        let watch = FileWatch::new(&path);
        let mut seen = watch.events().expect("inotify on Linux");
        std::fs::rename(&path, &away).unwrap();
        seen = wait_for_more_than(&watch, seen);
        std::fs::rename(&away, &path).unwrap();
        seen = wait_for_more_than(&watch, seen);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        seen = wait_for_more_than(&watch, seen);
        // Another file put in its place.
        std::fs::write(&away, b"y").unwrap();
        std::fs::rename(&away, &path).unwrap();
        seen = wait_for_more_than(&watch, seen);
        std::fs::remove_file(&path).unwrap();
        wait_for_more_than(&watch, seen);
    }

    fn event(name: &str, mask: u32) -> Vec<u8> {
        let padded = if name.is_empty() { 0 } else { (name.len() / 16 + 1) * 16 };
        let header = libc::inotify_event { wd: 1, mask, cookie: 0, len: padded as u32 };
        // SAFETY: inotify_event is plain data; its bytes are what the kernel writes.
        let mut bytes =
            unsafe { std::slice::from_raw_parts((&header as *const libc::inotify_event).cast::<u8>(), 16) }
                .to_vec();
        let mut raw = name.as_bytes().to_vec();
        raw.resize(padded, 0);
        bytes.extend(raw);
        bytes
    }

    #[test]
    fn only_events_about_the_file_or_the_folder_count() {
        let name = b"k.db";
        let others = [event("k.db-wal", libc::IN_CREATE), event("k.db-shm", libc::IN_ATTRIB)].concat();
        assert!(!imp::events_name(&others, name), "the WAL and WAL-index files come and go");
        assert!(imp::events_name(&[others.clone(), event("k.db", libc::IN_MOVED_FROM)].concat(), name));
        assert!(imp::events_name(&event("", libc::IN_MOVE_SELF), name), "the folder moved");
        assert!(!imp::events_name(&event("k.db.away", libc::IN_MOVED_TO), name));
    }
}
