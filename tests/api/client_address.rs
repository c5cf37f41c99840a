//! The client's address behind a reverse proxy (`KEYWARD_TRUSTED_PROXIES`): the key's last-used
//! IP, the sign-in throttle and the audit log take it from `X-Forwarded-For` only when the
//! connection comes from a trusted proxy. The test client connects from 127.0.0.1.

use std::time::Duration;

use diesel::prelude::*;
use keyward::config::{Settings, TrustedProxies};
use reqwest::header::{HeaderMap, HeaderValue};

use crate::both_backends;
use crate::helpers::db::{SeedKey, seed_key, usage_of};
use crate::helpers::{Backend, Client, OWNER_EMAIL, OWNER_PASSWORD, TestApp, spawn_app_with};

both_backends! {
    behind_a_trusted_proxy_the_forwarded_address_is_the_last_used_ip,
    without_trusted_proxies_forwarded_headers_are_ignored,
    behind_a_trusted_proxy_each_forwarded_address_has_its_own_sign_in_budget,
    without_trusted_proxies_every_forwarded_address_shares_the_peer_budget,
    forwarded_host_counts_only_from_a_trusted_proxy,
}

const CLIENT_A: &str = "203.0.113.7";
const CLIENT_B: &str = "198.51.100.23";

fn trust_localhost(s: &mut Settings) {
    s.trusted_proxies = TrustedProxies::parse("127.0.0.1, ::1").unwrap();
}

/// Waits for the usage flush to write a last-used IP other than `previous`.
async fn last_used_ip(app: &TestApp, key_id: i64, previous: Option<&str>) -> Option<String> {
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let ip = usage_of(app, key_id).await.3;
        if ip.is_some() && ip.as_deref() != previous {
            return ip;
        }
    }
    panic!("no new last-used IP written within 5 s (still {previous:?})")
}

async fn behind_a_trusted_proxy_the_forwarded_address_is_the_last_used_ip(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        trust_localhost(s);
        s.usage_flush_interval = Duration::from_millis(100);
    })
    .await;
    let k = seed_key(&app, SeedKey::default()).await;
    // nginx's `$proxy_add_x_forwarded_for`: whatever the client sent, then what nginx saw.
    let res = app
        .client()
        .get_request("/api/v1/auth")
        .header("X-Api-Key", k.secret())
        .header("X-Forwarded-For", format!("10.6.6.6, {CLIENT_A}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(last_used_ip(&app, k.id, None).await.as_deref(), Some(CLIENT_A));

    // The JSON verifier resolves the same way; X-Real-IP serves when there is no XFF.
    let res = app
        .client()
        .post_request("/api/v1/keys/verify")
        .header("X-Real-IP", CLIENT_B)
        .json(&serde_json::json!({ "key": k.secret() }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(last_used_ip(&app, k.id, Some(CLIENT_A)).await.as_deref(), Some(CLIENT_B));
}

async fn without_trusted_proxies_forwarded_headers_are_ignored(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.usage_flush_interval = Duration::from_millis(100)).await;
    let k = seed_key(&app, SeedKey::default()).await;
    let res = app
        .client()
        .get_request("/api/v1/auth")
        .header("X-Api-Key", k.secret())
        .header("X-Forwarded-For", CLIENT_A)
        .header("X-Real-IP", CLIENT_B)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(last_used_ip(&app, k.id, None).await.as_deref(), Some("127.0.0.1"));
}

/// A browser whose every request arrives as if forwarded for `client`.
fn browser_from(app: &TestApp, client: &str) -> Client {
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-for", HeaderValue::from_str(client).unwrap());
    Client::with_default_headers(&app.address, headers)
}

/// Three failed sign-ins (each for another email, so no email is locked) from `CLIENT_A`, which
/// uses up a three-attempt per-address budget; then what `CLIENT_B` gets when it signs in.
async fn exhaust_a_then_sign_in_from_b(app: &TestApp) -> (u16, u16) {
    app.setup_owner().await;
    let a = browser_from(app, CLIENT_A);
    for n in 0..3 {
        let res = a.sign_in(&format!("guess{n}@example.com"), "wrong password here").await;
        assert_eq!(res.status(), 401, "attempt {n} from A");
    }
    let refused = a.sign_in("another@example.com", "wrong password here").await;
    assert_eq!(refused.status(), 429, "A's budget is spent");
    let b = browser_from(app, CLIENT_B);
    let failed = b.sign_in("guess@example.com", "wrong password here").await.status().as_u16();
    let signed_in = b.sign_in(OWNER_EMAIL, OWNER_PASSWORD).await.status().as_u16();
    (failed, signed_in)
}

fn small_ip_budget(s: &mut Settings) {
    s.login_throttle.max_failures_per_ip = 3;
}

/// The address the audit log recorded for the last event named `action`.
async fn audited_ip(app: &TestApp, wanted: &'static str) -> Option<String> {
    use keyward::db::schema::audit_events::dsl::*;
    app.state
        .db
        .run(move |conn| -> Result<Option<String>, keyward::db::DbError> {
            Ok(audit_events.filter(action.eq(wanted)).order(id.desc()).select(ip).first(conn)?)
        })
        .await
        .expect("audit query")
}

async fn behind_a_trusted_proxy_each_forwarded_address_has_its_own_sign_in_budget(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        trust_localhost(s);
        small_ip_budget(s);
    })
    .await;
    assert_eq!(exhaust_a_then_sign_in_from_b(&app).await, (401, 303), "B is not throttled for A's failures");
    assert_eq!(audited_ip(&app, "user.signed_in").await.as_deref(), Some(CLIENT_B));
}

async fn without_trusted_proxies_every_forwarded_address_shares_the_peer_budget(backend: Backend) {
    // The counterpart: untrusted, both "clients" are 127.0.0.1, so A's failures lock B out.
    let app = spawn_app_with(backend, small_ip_budget).await;
    assert_eq!(exhaust_a_then_sign_in_from_b(&app).await, (429, 429));
}

/// The console's cross-site check and the reveal page's URLs take `X-Forwarded-Host` /
/// `-Proto` only from a trusted proxy: a client cannot name the host its own Origin is checked
/// against.
async fn forwarded_host_counts_only_from_a_trusted_proxy(backend: Backend) {
    let untrusted = spawn_app_with(backend, |_| {}).await;
    let trusted = spawn_app_with(backend, trust_localhost).await;
    for (app, proxied) in [(&untrusted, false), (&trusted, true)] {
        app.setup_owner().await;
        let token = app.client().csrf_token("/settings/api-keys/new").await;
        let res = app
            .client()
            .post_request("/settings/api-keys")
            .header("Origin", "https://keys.example.com")
            .header("X-Forwarded-Host", "keys.example.com")
            .header("X-Forwarded-Proto", "https")
            .form(&[
                ("csrf_token", token.as_str()),
                ("name", "Via proxy"),
                ("permissions", "records:read"),
                ("expiry", "30"),
            ])
            .send()
            .await
            .unwrap();
        if !proxied {
            assert_eq!(res.status(), 403, "an untrusted client's X-Forwarded-Host is not believed");
            continue;
        }
        assert_eq!(res.status(), 303, "a trusted proxy's X-Forwarded-Host is the site");
        let reveal = res.headers()["location"].to_str().unwrap().to_owned();
        let page = app
            .client()
            .get_request(&reveal)
            .header("X-Forwarded-Host", "keys.example.com")
            .header("X-Forwarded-Proto", "https")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("https://keys.example.com/api/v1/whoami"), "{page}");
    }
}
