//! The verifier's endpoints: every refusal code in its documented order, both headers, the
//! query-string refusal, permissions, rate limits, usage recording, shutdown, two instances,
//! and failing closed when the database is gone.

use std::time::Duration;

use chrono::Utc;
use keyward::db::KeyStamp;
use keyward::keys::ApiKey;
use reqwest::Response;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::db::{SeedKey, delete_key, revoke_key, seed_key, usage_of};
use crate::helpers::{
    Backend, Client, TestApp, postgres_admin_url, spawn_app, spawn_app_with, test_settings,
};

both_backends! {
    whoami_accepts_either_header_and_describes_the_key,
    conflicting_headers_are_refused_and_identical_ones_accepted,
    keys_in_the_query_string_are_refused,
    missing_and_malformed_keys_are_401_with_a_challenge,
    unknown_revoked_and_expired_keys_are_401_in_order,
    forward_auth_checks_required_permissions,
    the_burst_is_followed_by_429_with_retry_after,
    a_per_key_rate_limit_overrides_the_default,
    verify_reports_the_verdict_in_the_body,
    verify_refuses_bad_bodies_with_400,
    usage_is_written_after_the_flush_interval,
    usage_survives_a_graceful_stop,
    deleted_keys_are_refused_and_their_usage_skipped,
    the_verifier_fails_closed_when_the_database_is_gone,
    a_revocation_on_one_instance_is_refused_by_another_at_once,
    forward_auth_refusals_repeat_their_code_and_body_in_headers,
}

async fn auth_with(app: &TestApp, key: &str, require: Option<&str>) -> Response {
    let mut req = app.client().get_request("/api/v1/auth").header("X-Api-Key", key);
    if let Some(r) = require {
        req = req.header("X-Keyward-Require", r);
    }
    req.send().await.unwrap()
}

fn header<'a>(res: &'a Response, name: &str) -> Option<&'a str> {
    res.headers().get(name).map(|v| v.to_str().unwrap())
}

#[track_caller]
fn assert_rate_headers(res: &Response) {
    for h in ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"] {
        let v = header(res, h).unwrap_or_else(|| panic!("{h} missing on {}", res.status()));
        v.parse::<u64>().unwrap_or_else(|_| panic!("{h}: {v}"));
    }
}

async fn error_code(res: Response) -> String {
    let body: Value = res.json().await.unwrap();
    let msg = body["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.len() > 20, "message too thin: {body}");
    body["error"]["code"].as_str().unwrap().to_owned()
}

async fn whoami_accepts_either_header_and_describes_the_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let web = app.client();
    let k = seed_key(&app, SeedKey { permissions: "records:read files:read", ..Default::default() }).await;
    let res = web.get_request("/api/v1/whoami").header("X-Api-Key", k.secret()).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "cache-control"), Some("no-store"));
    assert_rate_headers(&res);
    assert_eq!(header(&res, "ratelimit-limit"), Some("10"));
    assert_eq!(header(&res, "ratelimit-remaining"), Some("9"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["key_id"], k.id);
    assert_eq!(body["name"], "Deploy bot");
    assert_eq!(body["masked_key"], k.key.masked());
    assert_eq!(body["workspace"], json!({"id": k.workspace_id, "name": "Seeded"}));
    assert_eq!(body["permissions"], json!(["files:read", "records:read"]));
    assert_eq!(body["expires_at"], Value::Null);
    assert_eq!(body["ratelimit"]["per_minute"], 100);
    assert!(!body.to_string().contains(k.secret()), "the key is never echoed");

    let bearer = format!("Bearer {}", k.secret());
    let res = web.get_request("/api/v1/whoami").header("Authorization", bearer).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "ratelimit-remaining"), Some("8"));
}

async fn conflicting_headers_are_refused_and_identical_ones_accepted(backend: Backend) {
    let app = spawn_app(backend).await;
    let web = app.client();
    let k = seed_key(&app, SeedKey::default()).await;
    let other = ApiKey::generate(keyward::keys::Environment::Live);
    let res = web
        .get_request("/api/v1/auth")
        .header("X-Api-Key", k.secret())
        .header("Authorization", format!("Bearer {}", other.expose()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(res).await, "conflicting_keys");
    let res = web
        .get_request("/api/v1/auth")
        .header("X-Api-Key", k.secret())
        .header("Authorization", format!("Bearer {}", k.secret()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

async fn keys_in_the_query_string_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let k = seed_key(&app, SeedKey::default()).await;
    for param in ["key", "api_key", "apikey", "token", "access_token"] {
        for path in ["/api/v1/auth", "/api/v1/whoami"] {
            let url = format!("{path}?{param}={}", k.secret());
            // Even alongside a valid header: the URL may already be in someone's log.
            let res = app.client().get_request(&url).header("X-Api-Key", k.secret()).send().await.unwrap();
            assert_eq!(res.status(), 400, "{path}?{param}");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["error"]["code"], "key_in_query");
            assert!(body["error"]["message"].as_str().unwrap().contains("header"), "{body}");
        }
    }
    let res = app
        .client()
        .post_request(&format!("/api/v1/keys/verify?key={}", k.secret()))
        .json(&json!({"key": k.secret()}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(error_code(res).await, "key_in_query");
}

async fn missing_and_malformed_keys_are_401_with_a_challenge(backend: Backend) {
    let app = spawn_app(backend).await;
    let web = app.client();
    let res = web.get("/api/v1/auth").await;
    assert_eq!(res.status(), 401);
    assert!(header(&res, "www-authenticate").unwrap().starts_with("Bearer"));
    assert_eq!(error_code(res).await, "missing_key");

    let valid = ApiKey::generate(keyward::keys::Environment::Live);
    let mut typo = valid.expose().to_owned();
    typo.replace_range(12..13, if &typo[12..13] == "x" { "y" } else { "x" });
    let long = "k".repeat(600);
    for bad in ["", "not-a-key", typo.as_str(), long.as_str(), &valid.expose()[..40]] {
        let res = auth_with(&app, bad, None).await;
        assert_eq!(res.status(), 401, "{bad}");
        assert!(header(&res, "www-authenticate").unwrap().starts_with("Bearer"));
        assert!(header(&res, "ratelimit-limit").is_none(), "no key is known");
        assert_eq!(error_code(res).await, "malformed_key");
    }
    // Non-ASCII bytes in the header.
    let value = reqwest::header::HeaderValue::from_bytes("kw_live_ünïcødé".as_bytes()).unwrap();
    let res = web.get_request("/api/v1/auth").header("X-Api-Key", value).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(error_code(res).await, "malformed_key");
}

async fn unknown_revoked_and_expired_keys_are_401_in_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let unknown = ApiKey::generate(keyward::keys::Environment::Live);
    let res = auth_with(&app, unknown.expose(), None).await;
    assert_eq!(res.status(), 401);
    assert!(header(&res, "ratelimit-limit").is_none());
    assert_eq!(error_code(res).await, "unknown_key");

    let past = Utc::now().naive_utc() - chrono::Duration::hours(1);
    // Revoked and expired and lacking the permission: revoked comes first.
    let revoked = seed_key(
        &app,
        SeedKey { revoked: true, expires_at: Some(past), permissions: "files:read", ..Default::default() },
    )
    .await;
    let res = auth_with(&app, revoked.secret(), Some("records:write")).await;
    assert_eq!(res.status(), 401);
    assert!(header(&res, "www-authenticate").unwrap().starts_with("Bearer"));
    assert_rate_headers(&res);
    assert_eq!(error_code(res).await, "revoked_key");

    // Expired and lacking the permission: expired comes first.
    let expired =
        seed_key(&app, SeedKey { expires_at: Some(past), permissions: "files:read", ..Default::default() })
            .await;
    let res = auth_with(&app, expired.secret(), Some("records:write")).await;
    assert_eq!(res.status(), 401);
    assert_rate_headers(&res);
    assert_eq!(error_code(res).await, "expired_key");

    // A key expiring in the future still works.
    let future = Utc::now().naive_utc() + chrono::Duration::days(1);
    let fine = seed_key(&app, SeedKey { expires_at: Some(future), ..Default::default() }).await;
    let res =
        app.client().get_request("/api/v1/whoami").header("X-Api-Key", fine.secret()).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'), "{body}");
}

async fn forward_auth_checks_required_permissions(backend: Backend) {
    let app = spawn_app(backend).await;
    let reader = seed_key(&app, SeedKey { permissions: "records:read", ..Default::default() }).await;
    let res = auth_with(&app, reader.secret(), Some("records:read")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "x-keyward-key-id"), Some(reader.id.to_string().as_str()));
    assert_eq!(header(&res, "x-keyward-workspace"), Some(reader.workspace_id.to_string().as_str()));
    assert_eq!(header(&res, "x-keyward-permissions"), Some("records:read"));
    assert_eq!(header(&res, "cache-control"), Some("no-store"));
    assert_rate_headers(&res);

    let res = auth_with(&app, reader.secret(), Some("records:read, records:write")).await;
    assert_eq!(res.status(), 403);
    assert_rate_headers(&res);
    assert!(header(&res, "www-authenticate").is_none());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "insufficient_permission");
    assert!(body["error"]["message"].as_str().unwrap().contains("records:write"));

    // The query parameter works too.
    let res = app
        .client()
        .get_request("/api/v1/auth?require=files:upload")
        .header("X-Api-Key", reader.secret())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    let bad = auth_with(&app, reader.secret(), Some("Records Write")).await;
    assert_eq!(bad.status(), 400);
    assert_eq!(error_code(bad).await, "invalid_permission");

    let admin = seed_key(&app, SeedKey { permissions: "*", ..Default::default() }).await;
    let res = auth_with(&app, admin.secret(), Some("records:write,files:upload")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "x-keyward-permissions"), Some("*"));
}

async fn the_burst_is_followed_by_429_with_retry_after(backend: Backend) {
    let app = spawn_app(backend).await;
    let k = seed_key(&app, SeedKey::default()).await;
    for i in 0..10 {
        let res = auth_with(&app, k.secret(), None).await;
        assert_eq!(res.status(), 200, "request {i}");
        assert_eq!(header(&res, "ratelimit-remaining"), Some((9 - i).to_string().as_str()));
    }
    let res = auth_with(&app, k.secret(), None).await;
    assert_eq!(res.status(), 429);
    let retry: u64 = header(&res, "retry-after").unwrap().parse().unwrap();
    assert!((1..=1).contains(&retry), "100/min lets one more through within a second: {retry}");
    assert_eq!(header(&res, "ratelimit-remaining"), Some("0"));
    assert_rate_headers(&res);
    assert_eq!(error_code(res).await, "rate_limited");
    // Another key is not affected.
    let other = seed_key(&app, SeedKey::default()).await;
    assert_eq!(auth_with(&app, other.secret(), None).await.status(), 200);
    // After the interval, the key works again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(auth_with(&app, k.secret(), None).await.status(), 200);
}

async fn a_per_key_rate_limit_overrides_the_default(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.rate_limit.burst_per_second = 3).await;
    let slow = seed_key(&app, SeedKey { rate_limit: Some(2), ..Default::default() }).await;
    for _ in 0..2 {
        assert_eq!(auth_with(&app, slow.secret(), None).await.status(), 200);
    }
    let res = auth_with(&app, slow.secret(), None).await;
    assert_eq!(res.status(), 429);
    let retry: u64 = header(&res, "retry-after").unwrap().parse().unwrap();
    assert!((29..=30).contains(&retry), "2/min means one every 30 s: {retry}");
    // The global burst (3 here, from settings) applies to keys without their own limit.
    let normal = seed_key(&app, SeedKey::default()).await;
    for _ in 0..3 {
        assert_eq!(auth_with(&app, normal.secret(), None).await.status(), 200);
    }
    assert_eq!(auth_with(&app, normal.secret(), None).await.status(), 429);
}

async fn verify(app: &TestApp, body: Value) -> Response {
    app.client().post_request("/api/v1/keys/verify").json(&body).send().await.unwrap()
}

async fn verify_reports_the_verdict_in_the_body(backend: Backend) {
    let app = spawn_app(backend).await;
    let k = seed_key(&app, SeedKey { permissions: "records:read", ..Default::default() }).await;
    let res = verify(&app, json!({"key": k.secret(), "permissions": ["records:read"]})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "cache-control"), Some("no-store"));
    assert_rate_headers(&res);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["valid"], true);
    assert_eq!(body["code"], "ok");
    assert_eq!(body["key_id"], k.id);
    assert_eq!(body["workspace_id"], k.workspace_id);
    assert_eq!(body["name"], "Deploy bot");
    assert_eq!(body["permissions"], json!(["records:read"]));
    assert_eq!(body["expires_at"], Value::Null);
    assert_eq!(body["ratelimit"]["limit"], 10);
    assert_eq!(body["ratelimit"]["remaining"], 9);
    assert!(body["ratelimit"]["reset"].as_u64().is_some());

    let body: Value = verify(&app, json!({"key": k.secret(), "permissions": ["records:write"]}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (body["valid"].clone(), body["code"].clone()),
        (json!(false), json!("insufficient_permission"))
    );
    let body: Value = verify(&app, json!({"key": "kw_live_nope"})).await.json().await.unwrap();
    assert_eq!((body["valid"].clone(), body["code"].clone()), (json!(false), json!("malformed_key")));
    assert_eq!(body["key_id"], Value::Null);
    let body: Value =
        verify(&app, json!({"key": ApiKey::generate(keyward::keys::Environment::Live).expose()}))
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(body["code"], "unknown_key");
    revoke_key(&app, k.id).await;
    let body: Value = verify(&app, json!({"key": k.secret()})).await.json().await.unwrap();
    assert_eq!((body["valid"].clone(), body["code"].clone()), (json!(false), json!("revoked_key")));
}

async fn verify_refuses_bad_bodies_with_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let post = |body: &'static str| {
        app.client()
            .post_request("/api/v1/keys/verify")
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    for (body, hint) in [
        ("{not json", "key"),
        ("{}", "missing field `key`"),
        (r#"{"key": 42}"#, "invalid type"),
        (r#"{"key": "x", "permissions": "records:read"}"#, "invalid type"),
        ("", "EOF"),
    ] {
        let res = post(body).await.unwrap();
        assert_eq!(res.status(), 400, "{body}");
        assert_eq!(header(&res, "content-type"), Some("application/json"));
        let json: Value = res.json().await.unwrap();
        assert_eq!(json["error"]["code"], "invalid_body", "{body}");
        assert!(json["error"]["message"].as_str().unwrap().contains(hint), "{json}");
    }
    let res = verify(&app, json!({"key": "x", "permissions": ["NOT VALID"]})).await;
    assert_eq!(res.status(), 400);
    let huge = json!({"key": "x".repeat(40_000)});
    let res = verify(&app, huge).await;
    assert_eq!(res.status(), 413);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["code"], "body_too_large");
    // GET is not how verify is called.
    let res = app.client().get("/api/v1/keys/verify").await;
    assert_eq!(res.status(), 405);
}

async fn usage_is_written_after_the_flush_interval(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.usage_flush_interval = Duration::from_millis(100)).await;
    let k = seed_key(&app, SeedKey { permissions: "records:read", ..Default::default() }).await;
    assert_eq!(usage_of(&app, k.id).await, (0, 0, None, None));
    for _ in 0..3 {
        assert_eq!(auth_with(&app, k.secret(), None).await.status(), 200);
    }
    assert_eq!(auth_with(&app, k.secret(), Some("records:write")).await.status(), 403);
    let before = Utc::now().naive_utc();
    let mut seen = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let usage = usage_of(&app, k.id).await;
        if usage.0 == 3 {
            seen = Some(usage);
            break;
        }
    }
    let (allowed, denied, at, ip) = seen.expect("usage written within 5 s");
    assert_eq!((allowed, denied), (3, 1));
    let at = at.expect("last_used_at set");
    assert!((before - at).num_seconds().abs() < 5, "{at} vs {before}");
    assert_eq!(ip.as_deref(), Some("127.0.0.1"));
    // Later flushes add to the day's row rather than replacing it.
    auth_with(&app, k.secret(), None).await;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if usage_of(&app, k.id).await.0 == 4 {
            return;
        }
    }
    panic!("second flush did not add to the count: {:?}", usage_of(&app, k.id).await);
}

async fn usage_survives_a_graceful_stop(backend: Backend) {
    // An hour between flushes: only the shutdown flush can write these counts.
    let app = spawn_app_with(backend, |s| s.usage_flush_interval = Duration::from_secs(3600)).await;
    let k = seed_key(&app, SeedKey::default()).await;
    for _ in 0..12 {
        auth_with(&app, k.secret(), None).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(usage_of(&app, k.id).await.0, 0, "nothing is written before the stop");
    app.stop().await;
    let (allowed, denied, at, _) = usage_of(&app, k.id).await;
    // Every request was counted. Ten fit the burst; on a loaded machine the twelve requests
    // can span a refill (one every 600 ms at 100/min), so one more may have been allowed.
    assert_eq!(allowed + denied, 12, "every request counted: {allowed} allowed, {denied} denied");
    assert!((10..=12).contains(&allowed), "{allowed} allowed");
    assert!(at.is_some());
}

async fn deleted_keys_are_refused_and_their_usage_skipped(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.usage_flush_interval = Duration::from_secs(3600)).await;
    let gone = seed_key(&app, SeedKey::default()).await;
    let kept = seed_key(&app, SeedKey::default()).await;
    assert_eq!(auth_with(&app, gone.secret(), None).await.status(), 200);
    assert_eq!(auth_with(&app, kept.secret(), None).await.status(), 200);
    delete_key(&app, gone.id).await;
    let res = auth_with(&app, gone.secret(), None).await;
    assert_eq!(res.status(), 401);
    assert_eq!(error_code(res).await, "unknown_key");
    // The batch holding the deleted key's count still writes the other key's.
    app.stop().await;
    assert_eq!(usage_of(&app, kept.id).await.0, 1);
}

async fn the_verifier_fails_closed_when_the_database_is_gone(backend: Backend) {
    let app = spawn_app(backend).await;
    let k = seed_key(&app, SeedKey::default()).await;
    assert_eq!(auth_with(&app, k.secret(), None).await.status(), 200);
    let cached_under = app.state.db.key_stamp();
    match &app.database_url {
        keyward::config::DatabaseUrl::Sqlite(path) => std::fs::remove_file(path).unwrap(),
        keyward::config::DatabaseUrl::Postgres(url) => {
            use diesel::{Connection, PgConnection, RunQueryDsl};
            let name = url::Url::parse(url).unwrap().path().trim_start_matches('/').to_owned();
            let admin = postgres_admin_url().unwrap();
            let mut conn = PgConnection::establish(&admin).unwrap();
            diesel::sql_query(format!("DROP DATABASE \"{name}\" WITH (FORCE)")).execute(&mut conn).unwrap();
        }
    }
    // The cache hit path makes no system call, so it learns of the loss from a watcher thread
    // (SQLite: inotify on the file's folder; PostgreSQL: the feed's connection closing). That
    // thread is woken inside the `unlink` or the drop but runs when the scheduler lets it, so
    // wait for it to have run; from then on every request must be refused.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !loss_seen(cached_under, app.state.db.key_stamp()) {
        assert!(std::time::Instant::now() < deadline, "the loss of the database went unnoticed for 10 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for path in ["/api/v1/auth", "/api/v1/whoami"] {
        let res = app.client().get_request(path).header("X-Api-Key", k.secret()).send().await.unwrap();
        assert_eq!(res.status(), 503, "{path}");
        assert_eq!(error_code(res).await, "unavailable");
    }
    let res = verify(&app, json!({"key": k.secret()})).await;
    assert_eq!(res.status(), 503);
    // Malformed keys are refused without a lookup, so they still get their 401.
    let res = auth_with(&app, "kw_live_short", None).await;
    assert_eq!(res.status(), 401);
    assert_eq!(error_code(res).await, "malformed_key");
}

/// Whether the cache has stopped trusting what it held under `before`: always, if it held
/// nothing; on SQLite once the watcher counted an event about the file (a commit alone also
/// changes the stamp, so the stamp changing is not enough); on PostgreSQL once the feed is
/// distrusted.
fn loss_seen(before: Option<KeyStamp>, now: Option<KeyStamp>) -> bool {
    match (before, now) {
        (None, _) | (_, None) => true,
        (Some(KeyStamp::Wal { file_events: a, .. }), Some(KeyStamp::Wal { file_events: b, .. })) => a != b,
        _ => false,
    }
}

/// Two servers on one database (PostgreSQL, or one SQLite file as during a rolling restart): a
/// revocation or deletion written through one is refused by the other on its very next
/// request. On SQLite the other server answers repeat keys from its cache, so this also proves
/// that a commit it did not make empties that cache.
async fn a_revocation_on_one_instance_is_refused_by_another_at_once(backend: Backend) {
    let a = spawn_app(backend).await;
    let b = keyward::startup::Application::build(test_settings(a.database_url.clone())).await.unwrap();
    let b_url = format!("http://127.0.0.1:{}", b.port());
    let (b_handle, b_verifier) = (b.handle(), b.verifier());
    tokio::spawn(b.run_until_stopped());
    let b_client = Client::new(&b_url);
    let on_b = |key: String| {
        let client = b_client.clone();
        async move { client.get_request("/api/v1/auth").header("X-Api-Key", key).send().await.unwrap() }
    };

    let k = seed_key(&a, SeedKey::default()).await;
    for _ in 0..3 {
        assert_eq!(on_b(k.secret().to_owned()).await.status(), 200);
    }
    if backend == Backend::Sqlite {
        assert!(b_verifier.cache.stats().hits >= 2, "B serves a repeat key from memory");
    }
    assert_eq!(auth_with(&a, k.secret(), None).await.status(), 200);
    revoke_key(&a, k.id).await;
    let res = on_b(k.secret().to_owned()).await;
    assert_eq!(res.status(), 401);
    assert_eq!(error_code(res).await, "revoked_key");

    // Deletion likewise.
    let d = seed_key(&a, SeedKey::default()).await;
    for _ in 0..3 {
        assert_eq!(on_b(d.secret().to_owned()).await.status(), 200);
    }
    delete_key(&a, d.id).await;
    assert_eq!(on_b(d.secret().to_owned()).await.status(), 401);
    b_handle.stop(true).await;
}

#[tokio::test]
async fn the_do_nothing_handler_answers_200() {
    let app = spawn_app(Backend::Sqlite).await;
    let res = app.client().get("/api/v1/ping").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "");
}

/// nginx's `auth_request` drops a refusal's body; the proxy snippet answers with these headers.
async fn forward_auth_refusals_repeat_their_code_and_body_in_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    let reader = seed_key(&app, SeedKey { permissions: "records:read", ..Default::default() }).await;
    let web = app.client();
    let refusals = [
        (web.get_request("/api/v1/auth"), 401, "missing_key"),
        (
            web.get_request("/api/v1/auth")
                .header("X-Api-Key", reader.secret())
                .header("X-Keyward-Require", "records:write"),
            403,
            "insufficient_permission",
        ),
        // A message quoting non-ASCII input still fits in a header.
        (
            web.get_request("/api/v1/auth?require=r%C3%A9cords:read").header("X-Api-Key", reader.secret()),
            400,
            "invalid_permission",
        ),
    ];
    for (req, status, code) in refusals {
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), status, "{code}");
        assert_eq!(header(&res, "x-keyward-error"), Some(code));
        let in_header: Value =
            serde_json::from_str(header(&res, "x-keyward-error-body").expect("the body header")).unwrap();
        let body: Value = res.json().await.unwrap();
        assert_eq!(in_header, body, "{code}");
    }
    let res = auth_with(&app, reader.secret(), Some("records:read")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "x-keyward-error"), None);
    assert_eq!(header(&res, "x-keyward-error-body"), None);
}
