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

use std::path::{Path, PathBuf};

use parking_lot::Mutex;

pub struct FileWatch {
    path: PathBuf,
    /// `Some` while armed. The lock also makes reading the queue and disarming one step, so no
    /// request can see an empty queue while another has taken the event but not yet disarmed.
    state: Mutex<Option<imp::Watch>>,
}

impl FileWatch {
    pub fn new(path: &Path) -> Self {
        Self { path: path.to_path_buf(), state: Mutex::new(None) }
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
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    pub struct Watch {
        queue: File,
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

    pub struct Watch;

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
