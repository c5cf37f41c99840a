//! keyward behind real reverse proxies, each running the snippet shipped in `docs/proxy/` as a
//! user would copy it: the test reads the file and changes only addresses, ports and the log
//! directory. The same checks run through every proxy ([`forward_auth_checks`]).
//!
//! A proxy that is not installed skips its test with a note, except under `CI`, where it fails:
//! `scripts/install-test-deps` installs them.

mod caddy;
pub mod nginx;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use keyward::config::TrustedProxies;
use serde_json::Value;

use crate::helpers::db::{SeedKey, Seeded, revoke_key, seed_key, usage_of};
use crate::helpers::{Backend, TestApp, free_port, spawn_app_with};

/// The proxy's binary, or `None` (with a note) when it is not installed outside CI.
pub fn proxy_binary(candidates: &[&'static str], package: &str) -> Option<&'static str> {
    if let Some(found) = candidates.iter().copied().find(|p| Path::new(p).exists()) {
        return Some(found);
    }
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("CI is set but {package} is not installed: run scripts/install-test-deps");
    }
    let _ =
        writeln!(std::io::stderr(), "NOTE: {package} is not installed: its forward-auth test was skipped.");
    None
}

/// A shipped snippet, `docs/proxy/<name>`, as the user gets it.
fn shipped(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/proxy").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Replaces every `from` with its `to`; each `from` must occur, so a snippet that no longer
/// uses the documented placeholder address fails here rather than testing something else.
fn substitute(text: &str, pairs: &[(&str, String)]) -> String {
    let mut out = text.to_owned();
    for (from, to) in pairs {
        assert!(out.contains(from), "the snippet no longer contains {from:?}");
        out = out.replace(from, to);
    }
    out
}

/// What every proxy test sets up: keyward as it runs behind a proxy on the same host (the
/// proxy, 127.0.0.1, is trusted to name the client), the protected API, the proxy's port and a
/// directory for its files.
pub struct Stage {
    pub app: TestApp,
    pub api: u16,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Stage {
    pub async fn new() -> Self {
        let app = spawn_app_with(Backend::Sqlite, |s| {
            s.trusted_proxies = TrustedProxies::parse("127.0.0.1").unwrap();
            s.usage_flush_interval = Duration::from_millis(100);
        })
        .await;
        Self { app, api: spawn_echo_api(), port: free_port(), dir: tempfile::tempdir().unwrap() }
    }

    /// `docs/proxy/<name>` with keyward's and the API's documented addresses (127.0.0.1:8080,
    /// 127.0.0.1:9000) made this stage's, and the `more` replacements made.
    pub fn snippet(&self, name: &str, more: &[(&str, String)]) -> String {
        let mut pairs = vec![
            ("127.0.0.1:8080", format!("127.0.0.1:{}", self.app.port)),
            ("127.0.0.1:9000", format!("127.0.0.1:{}", self.api)),
        ];
        pairs.extend(more.iter().cloned());
        substitute(&shipped(name), &pairs)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// The protected API: answers every request with 200 and a JSON object of the headers it
/// received (names in lower case, each with its list of values).
fn spawn_echo_api() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = stream;
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head);
                let mut headers: HashMap<String, Vec<String>> = HashMap::new();
                for line in text.split("\r\n").skip(1).take_while(|l| !l.is_empty()) {
                    if let Some((name, value)) = line.split_once(':') {
                        headers
                            .entry(name.trim().to_ascii_lowercase())
                            .or_default()
                            .push(value.trim().to_owned());
                    }
                }
                let body = serde_json::to_string(&headers).unwrap();
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}

/// A proxy running in the foreground; stopped with SIGTERM (a graceful stop) when dropped.
pub struct ProxyProcess {
    child: Child,
    /// Files worth showing when it fails, and searched for leaked keys.
    logs: Vec<PathBuf>,
}

impl ProxyProcess {
    pub fn spawn(mut command: Command, logs: Vec<PathBuf>) -> Self {
        let child = command.spawn().expect("start the proxy");
        Self { child, logs }
    }

    fn log_text(&self) -> String {
        self.logs
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Waits until the proxy answers on `base` (any HTTP answer).
    pub async fn wait_ready(&mut self, base: &str) {
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the proxy exited ({status}):\n{}", self.log_text());
            }
            if http.get(format!("{base}/")).send().await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the proxy did not start:\n{}", self.log_text());
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..100 {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The headers the protected API received, from its echo, and the headers of the answer the
/// client got.
pub struct Seen(pub HashMap<String, Vec<String>>, pub reqwest::header::HeaderMap);

impl Seen {
    pub fn one(&self, name: &str) -> Option<&str> {
        match self.0.get(name).map(Vec::as_slice) {
            None | Some([]) => None,
            Some([one]) => Some(one),
            Some(many) => panic!("{name} reached the API {} times: {many:?}", many.len()),
        }
    }

    fn mentions(&self, secret: &str) -> bool {
        self.0.values().flatten().any(|v| v.contains(secret))
    }
}

/// Sends a request that must get through to the API; returns what the API saw.
pub async fn through(req: reqwest::RequestBuilder) -> Seen {
    let res = req.send().await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.text().await.unwrap();
    assert_eq!(status, 200, "the request should reach the API: {body}");
    let api = serde_json::from_str(&body).unwrap_or_else(|e| panic!("not the API's echo ({e}): {body}"));
    Seen(api, headers)
}

/// Sends a request the proxy must refuse with keyward's status and JSON error `code`; returns
/// the response's headers.
pub async fn refused(req: reqwest::RequestBuilder, status: u16, code: &str) -> reqwest::header::HeaderMap {
    let res = req.send().await.unwrap();
    let got = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.text().await.unwrap();
    assert_eq!(got, status, "expected {status} {code}, got {got}: {body}");
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(content_type.starts_with("application/json"), "{status} {code} as {content_type:?}: {body}");
    let json: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    assert_eq!(json["error"]["code"], code, "{body}");
    assert!(json["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    headers
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Every check the issue lists, through the proxy at `base` whose protected route is
/// `/records/` (reads need `records:read`, writes `records:write`). Stops keyward at the end.
pub async fn forward_auth_checks(app: &TestApp, base: &str, proxy: &ProxyProcess) {
    let writer =
        seed_key(app, SeedKey { permissions: "records:read records:write", ..Default::default() }).await;
    let reader = seed_key(app, SeedKey { permissions: "records:read", ..Default::default() }).await;
    let limited =
        seed_key(app, SeedKey { permissions: "records:read", rate_limit: Some(1), ..Default::default() })
            .await;
    let keys: [&Seeded; 3] = [&writer, &reader, &limited];
    let http = reqwest::Client::new();
    let url = format!("{base}/records/1");

    // No key: 401 with keyward's body and its challenge.
    let h = refused(http.get(&url), 401, "missing_key").await;
    assert!(header(&h, "www-authenticate").is_some_and(|v| v.starts_with("Bearer")), "{h:?}");
    assert_eq!(h.get_all("www-authenticate").iter().count(), 1, "{h:?}");

    // A valid key: through, and the API learns which key called but never sees the key.
    let seen = through(http.get(&url).header("X-Api-Key", writer.secret())).await;
    assert_eq!(seen.one("x-keyward-key-id"), Some(writer.id.to_string().as_str()));
    assert_eq!(seen.one("x-keyward-workspace"), Some(writer.workspace_id.to_string().as_str()));
    assert_eq!(seen.one("x-keyward-permissions"), Some("records:read,records:write"));
    assert_eq!(seen.one("x-keyward-environment"), Some("live"));
    assert_eq!(seen.one("x-api-key"), None);
    assert!(!seen.mentions(writer.secret()));

    // The client's query string is the API's, not the auth call's.
    through(http.get(format!("{url}?page=2&sort=name")).header("X-Api-Key", writer.secret())).await;

    // The same key as a bearer token, on a write: through, without the Authorization header.
    let seen = through(http.post(&url).bearer_auth(writer.secret())).await;
    assert_eq!(seen.one("authorization"), None);
    assert!(!seen.mentions(writer.secret()));
    // Another Authorization scheme is the API's own business and passes.
    let seen = through(
        http.get(&url).header("X-Api-Key", reader.secret()).header("Authorization", "Basic dXNlcjpwYXNz"),
    )
    .await;
    assert_eq!(seen.one("authorization"), Some("Basic dXNlcjpwYXNz"));

    // A client cannot forge keyward's headers, nor lower a route's requirement.
    let seen = through(
        http.get(&url)
            .header("X-Api-Key", reader.secret())
            .header("X-Keyward-Permissions", "*")
            .header("X-Keyward-Key-Id", writer.id.to_string())
            .header("X-Keyward-Environment", "test")
            .header("X-Keyward-Note", "forged"),
    )
    .await;
    assert_eq!(seen.one("x-keyward-environment"), Some("live"));
    assert_eq!(seen.one("x-keyward-permissions"), Some("records:read"));
    assert_eq!(seen.one("x-keyward-key-id"), Some(reader.id.to_string().as_str()));
    assert_eq!(seen.one("x-keyward-note"), None, "a client-sent X-Keyward-* header reached the API");
    refused(
        http.post(&url).header("X-Api-Key", reader.secret()).header("X-Keyward-Require", "records:read"),
        403,
        "insufficient_permission",
    )
    .await;

    // Missing permission: 403.
    refused(http.post(&url).header("X-Api-Key", reader.secret()), 403, "insufficient_permission").await;

    // A 400 stays a 400: two different keys in one request.
    refused(
        http.get(&url).header("X-Api-Key", reader.secret()).bearer_auth(writer.secret()),
        400,
        "conflicting_keys",
    )
    .await;
    // A key in the URL is refused at the proxy, and its log never holds it.
    refused(http.get(format!("{url}?page=2&api_key={}", reader.secret())), 400, "key_in_query").await;

    // Over the rate limit (1 a minute): 429 with Retry-After and the limit headers, at the client.
    let seen = through(http.get(&url).header("X-Api-Key", limited.secret())).await;
    assert_eq!(header(&seen.1, "ratelimit-limit"), Some("1"), "the limit reaches the client: {:?}", seen.1);
    assert_eq!(header(&seen.1, "ratelimit-remaining"), Some("0"), "{:?}", seen.1);
    assert_eq!(seen.one("ratelimit-limit"), None, "keyward's rate headers are for the client, not the API");
    let h = refused(http.get(&url).header("X-Api-Key", limited.secret()), 429, "rate_limited").await;
    let retry: u64 = header(&h, "retry-after").expect("Retry-After reaches the client").parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After: {retry}");
    assert_eq!(header(&h, "ratelimit-limit"), Some("1"), "{h:?}");
    assert_eq!(header(&h, "ratelimit-remaining"), Some("0"), "{h:?}");

    // keyward records the client's address as the proxy saw it, not one the client claims.
    let elsewhere = reqwest::Client::builder().local_address(IpAddr::from([127, 0, 0, 2])).build().unwrap();
    through(elsewhere.get(&url).header("X-Api-Key", reader.secret()).header("X-Forwarded-For", "10.9.9.9"))
        .await;
    let mut last_ip = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        last_ip = usage_of(app, reader.id).await.3;
        if last_ip.as_deref() == Some("127.0.0.2") {
            break;
        }
    }
    assert_eq!(last_ip.as_deref(), Some("127.0.0.2"), "the last-used IP is the client the proxy saw");

    // Revoked: refused on the next request.
    revoke_key(app, writer.id).await;
    refused(http.get(&url).bearer_auth(writer.secret()), 401, "revoked_key").await;

    // keyward stopped: 503, not the proxy's 500 or 502.
    app.stop().await;
    refused(http.get(&url).header("X-Api-Key", reader.secret()), 503, "keyward_unreachable").await;

    // The proxy's logs hold requests, never a key.
    let logs = proxy.log_text();
    assert!(logs.contains("/records/1"), "the access log records requests:\n{logs}");
    for key in keys {
        assert!(!logs.contains(key.secret()), "a key is in the proxy's logs:\n{logs}");
    }
}
