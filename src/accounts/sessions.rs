//! A user's own sign-in sessions, as *Your account → Sessions* lists and ends them.
//! Sessions are named by their stored form (the SHA-256 of the cookie's id): the page may
//! show it, since it cannot be turned back into a cookie.

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::user_sessions;

/// One live session of the user.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = user_sessions)]
pub struct SessionSummary {
    /// The stored id (a hash), for the sign-out form.
    #[diesel(column_name = id)]
    pub key: String,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The user's sessions that can still be used (not signed out, not past the idle or absolute
/// timeout), most recently seen first.
pub fn live(
    conn: &mut DbConnection,
    user_id: i64,
    now: NaiveDateTime,
    idle: TimeDelta,
    absolute: TimeDelta,
) -> QueryResult<Vec<SessionSummary>> {
    user_sessions::table
        .filter(user_sessions::user_id.eq(user_id))
        .filter(user_sessions::revoked_at.is_null())
        .filter(user_sessions::last_seen_at.gt(now - idle))
        .filter(user_sessions::created_at.gt(now - absolute))
        .order((user_sessions::last_seen_at.desc(), user_sessions::created_at.desc()))
        .select(SessionSummary::as_select())
        .load(conn)
}

/// Ends one of the user's sessions. Returns what it was (for the audit log), or `None` when
/// the user has no such live session: another user's session is never touched.
pub fn end_one(
    conn: &mut DbConnection,
    user_id: i64,
    key: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<SessionSummary>> {
    let row = user_sessions::table
        .filter(user_sessions::id.eq(key))
        .filter(user_sessions::user_id.eq(user_id))
        .filter(user_sessions::revoked_at.is_null())
        .select(SessionSummary::as_select())
        .first(conn)
        .optional()?;
    let Some(row) = row else { return Ok(None) };
    diesel::update(user_sessions::table.find(&row.key).filter(user_sessions::revoked_at.is_null()))
        .set(user_sessions::revoked_at.eq(now))
        .execute(conn)?;
    Ok(Some(row))
}

/// "Firefox on Linux": the browser and system a user agent names, in the words people use for
/// them. Good enough to recognise one's own devices; never used for any decision.
pub fn describe_user_agent(ua: Option<&str>) -> String {
    let Some(ua) = ua.filter(|u| !u.trim().is_empty()) else { return "Unknown browser".into() };
    let browser = if ua.contains("Edg/") {
        "Edge"
    } else if ua.contains("OPR/") || ua.contains("Opera") {
        "Opera"
    } else if ua.contains("Firefox/") {
        "Firefox"
    } else if ua.contains("Chromium/") {
        "Chromium"
    } else if ua.contains("HeadlessChrome/") || ua.contains("Chrome/") || ua.contains("CriOS/") {
        "Chrome"
    } else if ua.contains("Safari/") {
        "Safari"
    } else if ua.starts_with("curl/") {
        "curl"
    } else {
        "Another browser"
    };
    let system = if ua.contains("Android") {
        Some("Android")
    } else if ua.contains("iPhone") || ua.contains("iPad") {
        Some("iOS")
    } else if ua.contains("Windows") {
        Some("Windows")
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        Some("macOS")
    } else if ua.contains("CrOS") {
        Some("ChromeOS")
    } else if ua.contains("Linux") {
        Some("Linux")
    } else {
        None
    };
    match system {
        Some(system) => format!("{browser} on {system}"),
        None => browser.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::describe_user_agent;

    #[test]
    fn user_agents_read_as_browser_and_system() {
        let cases = [
            ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on Linux"),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) \
                 Version/18.1 Safari/605.1.15",
                "Safari on macOS",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 \
                 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            ("curl/8.5.0", "curl"),
        ];
        for (ua, words) in cases {
            assert_eq!(describe_user_agent(Some(ua)), words, "{ua}");
        }
        assert_eq!(describe_user_agent(None), "Unknown browser");
    }
}
