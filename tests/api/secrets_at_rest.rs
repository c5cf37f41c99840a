//! What a copy of the database gives away: no session a cookie could claim, no cookie key, no
//! pending reveal; and, on SQLite, files only keyward's user can read. A key's one showing is
//! claimed atomically, however many requests carry its cookie at once.

use std::os::unix::fs::PermissionsExt;

use diesel::prelude::*;
use keyward::config::{DatabaseUrl, SecretKey};
use keyward::db::DbError;
use keyward::db::schema::{instance_settings, user_sessions};
use keyward::startup::Application;

use crate::both_backends;
use crate::helpers::cookies::{cookie_header, open, seal, server_key, session_cookie_of};
use crate::helpers::pages::{reveal_id, secret_on};
use crate::helpers::{Backend, OWNER_EMAIL, OWNER_PASSWORD, TestApp, TestDb, db, spawn_app, test_settings};

both_backends! {
    a_copy_of_the_database_names_no_session_a_cookie_could_claim,
    a_pending_reveal_cannot_be_read_with_the_database_alone,
    a_burst_of_requests_with_one_reveal_cookie_shows_the_key_once,
}

async fn stored_session_ids(app: &TestApp) -> Vec<(String, i64)> {
    app.state
        .db
        .run(|conn| -> Result<_, DbError> {
            Ok(user_sessions::table.select((user_sessions::id, user_sessions::user_id)).load(conn)?)
        })
        .await
        .unwrap()
}

async fn instance_settings_values(app: &TestApp) -> Vec<String> {
    app.state
        .db
        .run(|conn| -> Result<_, DbError> {
            Ok(instance_settings::table.select(instance_settings::value).load(conn)?)
        })
        .await
        .unwrap()
}

/// A GET of the key table with exactly this session cookie (no jar).
async fn keys_page_with(app: &TestApp, cookie: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/settings/api-keys"))
        .header("Cookie", cookie_header(cookie))
        .send()
        .await
        .unwrap()
}

/// Even holding the cookie key (the worst case: a leaked secret file as well as the database),
/// a cookie forged around a session id read from the database signs no one in: the table holds
/// only each id's hash. The same forgery around the real id does, which shows the forging
/// itself is sound.
async fn a_copy_of_the_database_names_no_session_a_cookie_could_claim(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let browser = app.new_client();
    let res = browser.sign_in(OWNER_EMAIL, OWNER_PASSWORD).await;
    assert_eq!(res.status(), 303);
    let key = server_key(&app);
    let real =
        open(&key, &session_cookie_of(&res).expect("sign-in sets the cookie")).expect("our key opens it");
    let real_sid: String = serde_json::from_str(&real["sid"]).unwrap();
    let user_id: i64 = serde_json::from_str(&real["uid"]).unwrap();

    let stored = stored_session_ids(&app).await;
    assert_eq!(stored.len(), 2, "setup and the sign-in each made a session: {stored:?}");
    assert!(stored.iter().all(|(id, _)| id != &real_sid), "the cookie's id is not stored as it is");
    assert!(stored.iter().all(|(id, _)| id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())));

    let forge = |sid: &str| {
        seal(
            &key,
            &[
                ("uid", user_id.to_string()),
                ("sid", serde_json::to_string(sid).unwrap()),
                ("ws", real["ws"].clone()),
                ("csrf", serde_json::to_string("forged").unwrap()),
            ],
        )
    };
    for (stored_id, _) in &stored {
        let res = keys_page_with(&app, &forge(stored_id)).await;
        assert_eq!(res.status(), 303, "a stored id must not sign anyone in");
        assert!(res.headers()["location"].to_str().unwrap().starts_with("/login"));
    }
    assert_eq!(keys_page_with(&app, &forge(&real_sid)).await.status(), 200, "the forgery itself is sound");
}

/// The create response's cookie carries the new key to its reveal page. Nothing stored in the
/// database opens it (before, the cookie key itself was a row of `instance_settings`).
async fn a_pending_reveal_cannot_be_read_with_the_database_alone(backend: Backend) {
    use actix_web::cookie::Key;
    use sha2::{Digest, Sha512};
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let res = app
        .client()
        .post_form(
            "/settings/api-keys/new",
            "/settings/api-keys",
            &[("name", "Pending"), ("permissions", "records:read"), ("expiry", "30")],
        )
        .await;
    let cookie = session_cookie_of(&res).expect("the create response sets the cookie");
    let pending = open(&server_key(&app), &cookie).expect("the server's key opens it");
    assert!(pending.get("reveal").is_some_and(|r| r.contains("kw_live_")), "the cookie holds the new key");

    let stored = instance_settings_values(&app).await;
    assert!(!stored.is_empty(), "setup leaves its marker");
    for value in &stored {
        let mut candidates = vec![Key::from(&Sha512::digest(value.as_bytes())[..])];
        if let Ok(bytes) = hex::decode(value)
            && let Ok(key) = Key::try_from(&bytes[..])
        {
            candidates.push(key);
        }
        for key in candidates {
            assert!(open(&key, &cookie).is_none(), "a stored value opens the reveal cookie");
        }
    }
    // And the key itself was shown once, as usual.
    let html = app.client().get_text(&format!("/settings/api-keys/{}/reveal", reveal_id(&res))).await;
    assert!(secret_on(&html).is_some());
}

/// 16 requests at once with one pending-reveal cookie, ten times over: each key is shown
/// exactly once. On PostgreSQL a check-then-record let two or three through.
async fn a_burst_of_requests_with_one_reveal_cookie_shows_the_key_once(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for round in 0..10 {
        let res = app
            .client()
            .post_form(
                "/settings/api-keys/new",
                "/settings/api-keys",
                &[("name", &format!("Burst {round}")), ("permissions", "records:read"), ("expiry", "30")],
            )
            .await;
        let cookie = cookie_header(&session_cookie_of(&res).unwrap());
        let url = app.url(&format!("/settings/api-keys/{}/reveal", reveal_id(&res)));
        let pages =
            futures_util::future::join_all(
                (0..16).map(|_| {
                    let (http, url, cookie) = (http.clone(), url.clone(), cookie.clone());
                    async move {
                        http.get(url).header("Cookie", cookie).send().await.unwrap().text().await.unwrap()
                    }
                }),
            )
            .await;
        let shown = pages.iter().filter(|html| secret_on(html).is_some()).count();
        assert_eq!(shown, 1, "round {round}: the key was shown {shown} times");
    }
    let revealed = db::audit_actions(&app).await.iter().filter(|(a, _)| a == "key.revealed").count();
    assert_eq!(revealed, 10);
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

/// A fresh SQLite database, its `-wal` and `-shm` files and the cookie secret beside it are
/// readable by keyward's user only.
#[tokio::test]
async fn sqlite_files_are_created_private() {
    let app = spawn_app(Backend::Sqlite).await;
    app.setup_owner().await;
    app.client().create_key("Private", &["records:read"], "30").await;
    let DatabaseUrl::Sqlite(path) = &app.database_url else { unreachable!() };
    let name = path.file_name().unwrap().to_str().unwrap().to_owned();
    for file in [name.clone(), format!("{name}-wal"), format!("{name}-shm")] {
        assert_eq!(mode(&path.with_file_name(&file)), 0o600, "{file}");
    }
    assert_eq!(mode(&SecretKey::path_beside(path)), 0o600, "the secret file");
}

/// A database created readable by others (by an older keyward, or copied in) is made private
/// when keyward opens it.
#[tokio::test]
async fn an_existing_readable_sqlite_database_is_made_private() {
    let (_db, url) = TestDb::create(Backend::Sqlite);
    let DatabaseUrl::Sqlite(path) = &url else { unreachable!() };
    std::fs::write(path, b"").unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let app = Application::build(test_settings(url.clone())).await.expect("starts");
    assert_eq!(mode(path), 0o600);
    let handle = app.handle();
    let run = tokio::spawn(app.run_until_stopped());
    handle.stop(true).await;
    run.await.unwrap().unwrap();
}

/// Instances on PostgreSQL must share a cookie secret; one kept in the database is what let a
/// copy of it forge cookies, so without a configured secret the start is refused, plainly.
#[tokio::test]
async fn postgres_refuses_to_start_without_a_configured_secret() {
    if crate::helpers::postgres_admin_url().is_none() {
        return;
    }
    let (_db, url) = TestDb::create(Backend::Postgres);
    let mut settings = test_settings(url);
    settings.secret_key = None;
    let Err(e) = Application::build(settings).await else { panic!("started without a secret") };
    let message = e.to_string();
    assert!(message.contains("KEYWARD_SECRET_KEY_FILE") && message.contains("share"), "{message}");
}
