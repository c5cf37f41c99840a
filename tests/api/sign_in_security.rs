//! Throttled sign-in, cookie flags and idle timeout.
//!
//! The throttle's counts are per account and client network (backing off), per account (a
//! ceiling) and per network; tests that need several networks trust the loopback proxy and
//! name the client in `X-Forwarded-For`.

use std::time::Duration;

use keyward::config::{Settings, TrustedProxies};
use reqwest::header::{HeaderMap, HeaderValue};

use crate::both_backends;
use crate::helpers::{
    Backend, Client, OWNER_EMAIL, OWNER_PASSWORD, TestApp, extract_csrf, spawn_app, spawn_app_with,
};

both_backends! {
    a_stranger_failing_on_purpose_does_not_lock_the_owner_out,
    after_the_free_failures_the_same_network_must_wait_even_with_the_right_password,
    the_account_ceiling_refuses_every_network_once_reached,
    an_ipv6_client_is_counted_by_its_64,
    an_ended_wait_lets_the_owner_in_again,
    cookies_are_secure_behind_https_and_always_httponly_and_lax,
    an_idle_session_is_refused,
}

const ATTACKER: &str = "203.0.113.7";
const OWNER_NET: &str = "198.51.100.23";

/// The loopback proxy names the client; each failure after the third makes the next attempt
/// from that network wait an hour (so no test ever waits one out).
fn throttle_behind_proxy(s: &mut Settings) {
    s.trusted_proxies = TrustedProxies::parse("127.0.0.1, ::1").unwrap();
    s.login_throttle.free_failures_per_pair = 3;
    s.login_throttle.first_delay = Duration::from_secs(3600);
    s.login_throttle.max_delay = Duration::from_secs(7200);
}

/// A browser whose every request arrives as if forwarded for `client`.
fn browser_from(app: &TestApp, client: &str) -> Client {
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-for", HeaderValue::from_str(client).unwrap());
    Client::with_default_headers(&app.address, headers)
}

/// A 429 that says when to come back, in the header and on the page.
async fn assert_refused(res: reqwest::Response, wait_in_words: &str) {
    assert_eq!(res.status(), 429);
    let retry_after: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1, "{retry_after}");
    let html = res.text().await.unwrap();
    assert!(html.contains("Too many failed sign-in attempts") && html.contains(wait_in_words), "{html}");
}

async fn a_stranger_failing_on_purpose_does_not_lock_the_owner_out(backend: Backend) {
    let app = spawn_app_with(backend, throttle_behind_proxy).await;
    app.setup_owner().await;
    let attacker = browser_from(&app, ATTACKER);
    for _ in 0..3 {
        assert_eq!(attacker.sign_in(OWNER_EMAIL, "wrong password here").await.status(), 401);
    }
    for _ in 0..10 {
        assert_refused(attacker.sign_in(OWNER_EMAIL, "wrong password here").await, "in 60 minutes").await;
    }
    // The owner, on another network, signs in as if nothing had happened.
    let owner = browser_from(&app, OWNER_NET);
    assert_eq!(owner.sign_in(OWNER_EMAIL, OWNER_PASSWORD).await.status(), 303);
    assert_eq!(owner.get("/settings/api-keys").await.status(), 200);
}

async fn after_the_free_failures_the_same_network_must_wait_even_with_the_right_password(backend: Backend) {
    let app = spawn_app_with(backend, throttle_behind_proxy).await;
    app.setup_owner().await;
    let b = browser_from(&app, ATTACKER);
    for _ in 0..3 {
        assert_eq!(b.sign_in(OWNER_EMAIL, "wrong password here").await.status(), 401);
    }
    // Refused unchecked: the right password does not get past the wait either.
    let res = b.sign_in(OWNER_EMAIL, OWNER_PASSWORD).await;
    let retry_after: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((3500..=3600).contains(&retry_after), "{retry_after}");
    assert_refused(res, "in 60 minutes").await;
    assert_eq!(b.get("/settings/api-keys").await.status(), 303);
    // Another account from the same network is not held back by this one's wait.
    assert_eq!(b.sign_in("nobody@example.com", "wrong password here").await.status(), 401);
}

async fn the_account_ceiling_refuses_every_network_once_reached(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        throttle_behind_proxy(s);
        s.login_throttle.max_failures_per_account = 4;
    })
    .await;
    app.setup_owner().await;
    for n in 0..4 {
        let res =
            browser_from(&app, &format!("192.0.2.{n}")).sign_in(OWNER_EMAIL, "wrong password here").await;
        assert_eq!(res.status(), 401, "failure {n}");
    }
    let fresh = browser_from(&app, OWNER_NET);
    assert_refused(fresh.sign_in(OWNER_EMAIL, OWNER_PASSWORD).await, "in 15 minutes").await;
    // Only that account: another still signs in from anywhere.
    assert_eq!(fresh.sign_in("nobody@example.com", "wrong password here").await.status(), 401);
}

async fn an_ipv6_client_is_counted_by_its_64(backend: Backend) {
    let app = spawn_app_with(backend, throttle_behind_proxy).await;
    app.setup_owner().await;
    for n in 1..=3 {
        let from = format!("2001:db8:7:7::{n}");
        assert_eq!(browser_from(&app, &from).sign_in(OWNER_EMAIL, "wrong password here").await.status(), 401);
    }
    // Another address of the same /64 is the same client, and waits…
    let same_net = browser_from(&app, "2001:db8:7:7:aaaa::1");
    assert_refused(same_net.sign_in(OWNER_EMAIL, OWNER_PASSWORD).await, "in 60 minutes").await;
    // …while the next /64 is another client.
    let next_net = browser_from(&app, "2001:db8:7:8::1");
    assert_eq!(next_net.sign_in(OWNER_EMAIL, OWNER_PASSWORD).await.status(), 303);
}

async fn an_ended_wait_lets_the_owner_in_again(backend: Backend) {
    // No wait at all: each one ends as soon as it starts, so no test has to sit one out.
    let app = spawn_app_with(backend, |s| {
        s.login_throttle.free_failures_per_pair = 1;
        s.login_throttle.first_delay = Duration::ZERO;
        s.login_throttle.max_delay = Duration::ZERO;
    })
    .await;
    app.setup_owner().await;
    let b = app.new_client();
    for _ in 0..6 {
        assert_eq!(b.sign_in(OWNER_EMAIL, "wrong password here").await.status(), 401);
    }
    assert_eq!(b.sign_in(OWNER_EMAIL, OWNER_PASSWORD).await.status(), 303);
}

async fn sign_in_cookie(app: &crate::helpers::TestApp) -> (String, String) {
    let c = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = c.get(app.url("/login")).send().await.unwrap();
    let anon_header = page.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    let anon = anon_header.split(';').next().unwrap().to_owned();
    let token = extract_csrf(&page.text().await.unwrap()).unwrap();
    let res = c
        .post(app.url("/login"))
        .header("Cookie", &anon)
        .form(&[("csrf_token", token.as_str()), ("email", OWNER_EMAIL), ("password", OWNER_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    (anon_header, res.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned())
}

async fn cookies_are_secure_behind_https_and_always_httponly_and_lax(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.public_url = Some(url::Url::parse("https://keys.example.com").unwrap());
    })
    .await;
    // A plain-HTTP client does not send `Secure` cookies back, so only the first cookie can be
    // looked at here; it is the one every later answer renews with the same attributes.
    let res = reqwest::Client::new()
        .get(app.url("/setup"))
        .header("Host", "keys.example.com")
        .send()
        .await
        .unwrap();
    let h = res.headers()["set-cookie"].to_str().unwrap();
    assert!(h.contains("Secure"), "{h}");
    assert!(h.contains("HttpOnly"), "{h}");
    assert!(h.contains("SameSite=Lax"), "{h}");
    let plain = spawn_app(backend).await;
    plain.setup_owner().await;
    let (_, signed_in) = sign_in_cookie(&plain).await;
    assert!(!signed_in.contains("Secure") && signed_in.contains("HttpOnly"), "{signed_in}");
}

async fn an_idle_session_is_refused(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.session_idle_timeout = Duration::from_millis(1)).await;
    app.setup_owner().await;
    let (_, cookie) = sign_in_cookie(&app).await;
    let cookie = cookie.split(';').next().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let c = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = c.get(app.url("/settings/api-keys")).header("Cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(res.headers().get("location").unwrap().to_str().unwrap().starts_with("/login"));
}
