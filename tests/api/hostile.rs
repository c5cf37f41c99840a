//! Hostile input at the HTTP edge: oversized bodies, garbage and slow HTTP, markup in fields.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::both_backends;
use crate::helpers::{Backend, OWNER_PASSWORD, assert_is_redirect_to, spawn_app};

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
