//! `keyward admin create`, run as a real process with the password on standard input.

use std::io::Write;
use std::process::Stdio;

use keyward::config::DatabaseUrl;

use crate::both_backends;
use crate::helpers::{Backend, keyward_command, spawn_app, url_arg};

both_backends! {
    admin_create_makes_an_owner_who_can_sign_in,
}

fn run(url: &DatabaseUrl, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = keyward_command()
        .args(["admin", "create"])
        .args(args)
        .env("KEYWARD_DATABASE_URL", url_arg(url))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run keyward");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

async fn admin_create_makes_an_owner_who_can_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let web = app.client();
    let url = app.database_url.clone();
    let out = tokio::task::spawn_blocking(move || {
        let short = run(&url, &["--email", "ops@example.com", "--workspace", "Prod"], "short\n");
        let ok =
            run(&url, &["--email", "Ops@Example.com", "--workspace", "Prod"], "a long enough password\n");
        let again = run(&url, &["--email", "ops@example.com", "--workspace", "Prod"], "");
        (short, ok, again)
    })
    .await
    .unwrap();
    let (short, ok, again) = out;
    assert!(!short.status.success());
    let err = String::from_utf8(short.stderr).unwrap();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("12 characters"), "{err}");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8(ok.stdout).unwrap().contains("Prod"));
    assert!(again.status.success(), "re-running changes nothing: {}", String::from_utf8_lossy(&again.stderr));
    // Setup is over, and the new owner signs in to their workspace.
    assert_eq!(web.get("/setup").await.status(), 404);
    assert_eq!(web.sign_in("ops@example.com", "a long enough password").await.status(), 303);
    let html = web.get_text("/settings/members").await;
    assert!(html.contains("ops@example.com") && html.contains("Prod"), "{html}");
}
