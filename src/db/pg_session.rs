//! A bare libpq connection for the one job diesel's cannot do: wait on the socket for
//! `NOTIFY`s with a timeout. diesel's `PgConnection` reads queued notifications but does not
//! expose its socket, so the only way to hear one promptly through it would be to poll the
//! server in a loop. This speaks to the same libpq diesel links (`pq-sys`), so the connection
//! URL means exactly the same (TLS modes, `connect_timeout`, service files).
//!
//! Only trusted text is sent: statements are constants with numbers and hex identifiers
//! formatted in, never user input.

use std::ffi::{CStr, CString};
use std::time::Duration;

use pq_sys as pq;

/// One open connection, closed on drop.
pub struct PgSession {
    conn: std::ptr::NonNull<pq::PGconn>,
}

// SAFETY: a PGconn may be used from any thread as long as one thread at a time uses it; the
// session is owned by one thread (the lease keeper) and moves with it.
unsafe impl Send for PgSession {}

/// A failed connect or statement, with libpq's message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SessionError(String);

impl PgSession {
    /// Connects (blocking). `url` already carries a `connect_timeout`.
    pub fn connect(url: &str) -> Result<Self, SessionError> {
        let c_url = CString::new(url).map_err(|_| SessionError("the URL holds a NUL byte".into()))?;
        // SAFETY: a NUL-terminated string; PQconnectdb returns NULL only when out of memory.
        let raw = unsafe { pq::PQconnectdb(c_url.as_ptr()) };
        let conn = std::ptr::NonNull::new(raw).ok_or_else(|| SessionError("out of memory".into()))?;
        let session = Self { conn };
        // SAFETY: conn is a live connection object.
        if unsafe { pq::PQstatus(session.conn.as_ptr()) } != pq::ConnStatusType::CONNECTION_OK {
            return Err(session.error());
        }
        Ok(session)
    }

    fn error(&self) -> SessionError {
        // SAFETY: PQerrorMessage returns a NUL-terminated string owned by the connection.
        let text = unsafe { CStr::from_ptr(pq::PQerrorMessage(self.conn.as_ptr())) };
        let text = text.to_string_lossy().trim().to_owned();
        SessionError(if text.is_empty() { "the connection failed".into() } else { text })
    }

    /// Runs one statement and returns the first column of its first row, if any.
    pub fn query(&mut self, sql: &str) -> Result<Option<String>, SessionError> {
        let c_sql = CString::new(sql).map_err(|_| SessionError("a statement holds a NUL byte".into()))?;
        // SAFETY: a live connection and a NUL-terminated statement; the result is cleared below.
        let res = unsafe { pq::PQexec(self.conn.as_ptr(), c_sql.as_ptr()) };
        if res.is_null() {
            return Err(self.error());
        }
        struct Clear(*mut pq::PGresult);
        impl Drop for Clear {
            fn drop(&mut self) {
                // SAFETY: a result from PQexec, cleared once.
                unsafe { pq::PQclear(self.0) }
            }
        }
        let res = Clear(res);
        // SAFETY: res.0 is a valid result until Clear drops it.
        unsafe {
            match pq::PQresultStatus(res.0) {
                pq::ExecStatusType::PGRES_COMMAND_OK => Ok(None),
                pq::ExecStatusType::PGRES_TUPLES_OK => {
                    if pq::PQntuples(res.0) == 0 || pq::PQgetisnull(res.0, 0, 0) == 1 {
                        return Ok(None);
                    }
                    let value = CStr::from_ptr(pq::PQgetvalue(res.0, 0, 0));
                    Ok(Some(value.to_string_lossy().into_owned()))
                }
                _ => Err(self.error()),
            }
        }
    }

    /// Waits up to `timeout` for the server to send something, then returns the payloads of
    /// the notifications received. An error means the connection is gone.
    pub fn wait_for_notifications(&mut self, timeout: Duration) -> Result<Vec<String>, SessionError> {
        // A statement's answer may have brought notifications into libpq's buffer already; the
        // socket would then stay quiet about them.
        let ready = self.take_notifications()?;
        if !ready.is_empty() {
            return Ok(ready);
        }
        // SAFETY: a live connection; PQsocket only reads it.
        let fd = unsafe { pq::PQsocket(self.conn.as_ptr()) };
        if fd < 0 {
            return Err(self.error());
        }
        let mut poll = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        let millis = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd. EINTR and timeouts both fall through to the read below.
        unsafe { libc::poll(&mut poll, 1, millis) };
        self.take_notifications()
    }

    /// Reads whatever the server has sent (without waiting) and returns the notifications.
    pub fn take_notifications(&mut self) -> Result<Vec<String>, SessionError> {
        // SAFETY: a live connection. PQconsumeInput fails when the connection is lost.
        if unsafe { pq::PQconsumeInput(self.conn.as_ptr()) } == 0 {
            return Err(self.error());
        }
        let mut payloads = Vec::new();
        loop {
            // SAFETY: each non-NULL PGnotify is freed with PQfreemem after its payload is copied.
            let note = unsafe { pq::PQnotifies(self.conn.as_ptr()) };
            if note.is_null() {
                break;
            }
            unsafe {
                let extra = (*note).extra;
                if !extra.is_null() {
                    payloads.push(CStr::from_ptr(extra).to_string_lossy().into_owned());
                }
                pq::PQfreemem(note.cast());
            }
        }
        // A lost connection can also show only as a bad status after the read.
        // SAFETY: a live connection object.
        if unsafe { pq::PQstatus(self.conn.as_ptr()) } != pq::ConnStatusType::CONNECTION_OK {
            return Err(self.error());
        }
        Ok(payloads)
    }
}

impl Drop for PgSession {
    fn drop(&mut self) {
        // SAFETY: the connection object is finished exactly once.
        unsafe { pq::PQfinish(self.conn.as_ptr()) }
    }
}
