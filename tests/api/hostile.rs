//! Hostile input at the HTTP edge: oversized bodies, garbage and slow HTTP (headers and
//! bodies), markup in fields.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::both_backends;
use crate::helpers::{Backend, OWNER_PASSWORD, assert_is_redirect_to, spawn_app, spawn_app_with};

both_backends! {
    a_megabyte_form_post_is_refused_with_413,
    markup_in_a_workspace_name_is_stored_exactly_and_shown_as_text,
}

async fn a_megabyte_form_post_is_refused_with_413(backend: Backend) {
    let app = spawn_app(backend).await;
    let port = app.port;
    // Announce a megabyte but send none of it: the server must refuse on the header alone,
    // without waiting for (or buffering) the body. Sending the body too would race the
    // server's close against our write and turn the 413 into a connection reset.
    let head = format!(
        "POST /setup HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: http://127.0.0.1:{port}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        1024 * 1024
    );
    let answer = tokio::task::spawn_blocking(move || raw_exchange(port, head.as_bytes())).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // Nothing was created and the server is fine.
    assert_eq!(app.client().get("/setup").await.status(), 200);
}

async fn markup_in_a_workspace_name_is_stored_exactly_and_shown_as_text(backend: Backend) {
    let app = spawn_app(backend).await;
    let web = app.client();
    let evil = "<img src=x onerror=alert(1)> \"quoted\" ' OR 1=1; -- \u{202E}🙂";
    let code = app.setup_code();
    let res = web
        .post_form(
            "/setup",
            "/setup",
            &[
                ("setup_code", code.as_str()),
                ("email", "owner@example.com"),
                ("password", OWNER_PASSWORD),
                ("password_confirm", OWNER_PASSWORD),
                ("workspace_name", evil),
            ],
        )
        .await;
    assert_is_redirect_to(&res, "/settings/api-keys");
    let html = web.get_text("/settings/api-keys").await;
    assert!(!html.contains("<img src=x"), "markup must be escaped");
    assert!(
        html.contains("&#60;img src=x onerror=alert(1)&#62;") || html.contains("&lt;img src=x"),
        "{html}"
    );
    let stored: String = {
        use diesel::prelude::*;
        use keyward::db::schema::workspaces;
        let mut conn = app.state.db.get().unwrap();
        workspaces::table.select(workspaces::name).first(&mut *conn).unwrap()
    };
    assert_eq!(stored, evil.trim());
}

fn raw_exchange(port: u16, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn garbage_and_slow_http_do_not_tie_up_the_server() {
    let app = spawn_app(Backend::Sqlite).await;
    let port = app.port;

    // Hold many connections open with half-sent headers, as a slow-loris client would.
    let idlers: Vec<TcpStream> = (0..64)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").unwrap();
            s
        })
        .collect();

    // Garbage gets a 400 (or a closed connection), never a hang.
    let answer = tokio::task::spawn_blocking(move || raw_exchange(port, b"\x16\x03\x01garbage\r\n\r\n"))
        .await
        .unwrap();
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 400"), "{answer}");

    // Meanwhile a normal client is served: one worker, yet nothing is blocked.
    let res = app.client().get("/healthz").await;
    assert_eq!(res.status(), 200);
    drop(idlers);
}

/// The head of a POST announcing a 60 KB body, as the slow-body clients in docs/BENCHMARKS.md
/// send it.
fn slow_post_head(port: u16, path: &str, content_type: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: http://127.0.0.1:{port}\r\n\
         Content-Type: {content_type}\r\nContent-Length: 61440\r\n\r\n"
    )
}

/// What the server sent before closing, or `None` if the connection was still open after
/// `patience` (the read timed out).
fn read_until_closed(s: &mut TcpStream, patience: Duration) -> Option<String> {
    s.set_read_timeout(Some(patience)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return None,
            // Reset: closed, possibly before what was sent could be read.
            Err(_) => break,
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// A body that stops arriving part-way: the console's form and the verifier's JSON endpoint
/// each answer 408 with `Connection: close` once the body deadline has passed, and close the
/// connection. (Everything sent was read by the server before it answered, so the close is
/// clean and the answer is always there to read.)
#[tokio::test]
async fn a_body_that_stops_arriving_is_answered_408_and_its_connection_closed() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.body_read_timeout = Duration::from_secs(1)).await;
    let port = app.port;
    for (path, content_type, part) in [
        ("/login", "application/x-www-form-urlencoded", "csrf_token=abc&email="),
        ("/api/v1/keys/verify", "application/json", "{\"key\":\"kw_live_"),
    ] {
        let head = slow_post_head(port, path, content_type);
        let answer = tokio::task::spawn_blocking(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(part.as_bytes()).unwrap();
            // Ten seconds is ten times the deadline: a server still waiting then never stops.
            read_until_closed(&mut s, Duration::from_secs(10))
        })
        .await
        .unwrap();
        let answer = answer.unwrap_or_else(|| panic!("{path}: still open ten seconds later"));
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(answer.to_ascii_lowercase().contains("\r\nconnection: close\r\n"), "{path}: {answer}");
        if path.starts_with("/api/") {
            assert!(answer.contains("\"code\":\"body_timeout\""), "{answer}");
        } else {
            assert!(answer.contains("Request timed out"), "{answer}");
        }
    }
    // The server is fine afterwards.
    assert_eq!(app.client().get("/healthz").await.status(), 200);
}

/// The attack itself: a byte every tenth of a second toward a 60 KB body, which would take
/// an hour and a half to arrive. The connection is cut off at the deadline, long before.
/// (Bytes still in flight when the server closes may turn its 408 into a reset, so either
/// ending counts; a connection still open does not.)
#[tokio::test]
async fn a_trickling_body_is_cut_off_at_the_deadline() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.body_read_timeout = Duration::from_secs(1)).await;
    let port = app.port;
    let head = slow_post_head(port, "/login", "application/x-www-form-urlencoded");
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        let mut writer = s.try_clone().unwrap();
        let trickle = std::thread::spawn(move || {
            let started = Instant::now();
            // Stops when the connection is closed (the write fails) or after a minute.
            while started.elapsed() < Duration::from_secs(60) && writer.write_all(b"a").is_ok() {
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let answer = read_until_closed(&mut s, Duration::from_secs(15));
        let _ = s.shutdown(std::net::Shutdown::Both);
        trickle.join().unwrap();
        answer
    })
    .await
    .unwrap();
    let answer = answer.expect("the connection was still open fifteen seconds later");
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(app.client().get("/healthz").await.status(), 200);
}
