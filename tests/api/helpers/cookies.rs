//! The session cookie as an attacker with the cookie key would handle it: opened to read what
//! the server put in it, or sealed around values of the attacker's choosing. The format is
//! actix-session's: a private (encrypted) cookie holding a JSON map of name → JSON text.

use std::collections::HashMap;

use actix_web::cookie::{Cookie, CookieJar, Key};
use keyward::config::{DatabaseUrl, SecretKey};

use super::{TEST_SECRET_KEY, TestApp};

pub const SESSION_COOKIE: &str = "keyward_session";

/// The cookie key the test server uses: the file beside a SQLite database, or the PostgreSQL
/// servers' configured secret.
pub fn server_key(app: &TestApp) -> Key {
    let secret = match &app.database_url {
        DatabaseUrl::Sqlite(path) => {
            SecretKey::from_file(&SecretKey::path_beside(path)).expect("the server made its secret file")
        }
        DatabaseUrl::Postgres(_) => SecretKey::parse(TEST_SECRET_KEY, "test").unwrap(),
    };
    keyward::startup::cookie_key_for(&secret)
}

/// The session cookie's value (percent-decoded) among a response's `Set-Cookie` headers.
pub fn session_cookie_of(res: &reqwest::Response) -> Option<String> {
    res.headers().get_all("set-cookie").iter().find_map(|v| {
        let cookie = Cookie::parse_encoded(v.to_str().ok()?.to_owned()).ok()?;
        (cookie.name() == SESSION_COOKIE).then(|| cookie.value().to_owned())
    })
}

/// A `Cookie` request header carrying `value` as the session cookie.
pub fn cookie_header(value: &str) -> String {
    Cookie::new(SESSION_COOKIE, value.to_owned()).encoded().to_string()
}

/// What the cookie holds, if `key` opens it.
pub fn open(key: &Key, value: &str) -> Option<HashMap<String, String>> {
    let mut jar = CookieJar::new();
    jar.add_original(Cookie::new(SESSION_COOKIE, value.to_owned()));
    let plain = jar.private(key).get(SESSION_COOKIE)?;
    serde_json::from_str(plain.value()).ok()
}

/// A cookie the server would accept as its own, holding `entries` (values as JSON text).
pub fn seal(key: &Key, entries: &[(&str, String)]) -> String {
    let state: HashMap<&str, &str> = entries.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut jar = CookieJar::new();
    jar.private_mut(key).add(Cookie::new(SESSION_COOKIE, serde_json::to_string(&state).unwrap()));
    jar.get(SESSION_COOKIE).unwrap().value().to_owned()
}
