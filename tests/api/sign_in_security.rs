//! Throttled sign-in, cookie flags and idle timeout.

use std::time::Duration;

use crate::both_backends;
use crate::helpers::{Backend, OWNER_EMAIL, OWNER_PASSWORD, extract_csrf, spawn_app, spawn_app_with};

both_backends! {
    the_sixth_sign_in_for_an_email_is_refused_even_with_the_right_password,
    an_ended_throttle_window_lets_the_owner_in_again,
    cookies_are_secure_behind_https_and_always_httponly_and_lax,
    an_idle_session_is_refused,
}

async fn the_sixth_sign_in_for_an_email_is_refused_even_with_the_right_password(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.login_throttle.slowdown = Duration::from_millis(10)).await;
    app.setup_owner().await;
    let b = app.new_client();
    for _ in 0..5 {
        assert_eq!(b.sign_in(OWNER_EMAIL, "wrong password here").await.status(), 401);
    }
    let res = b.sign_in(OWNER_EMAIL, OWNER_PASSWORD).await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().get("retry-after").is_some());
    let html = res.text().await.unwrap();
    assert!(html.contains("Too many failed sign-in attempts") && html.contains("in 15 minutes"), "{html}");
    assert_eq!(b.get("/settings/api-keys").await.status(), 303);
    // Another email from the same address still gets through.
    let other = app.new_client();
    assert_eq!(other.sign_in("nobody@example.com", "wrong password here").await.status(), 401);
}

async fn an_ended_throttle_window_lets_the_owner_in_again(backend: Backend) {
    // A zero window: each lock ends as soon as it starts, so no test has to wait.
    let app = spawn_app_with(backend, |s| {
        s.login_throttle.window = Duration::ZERO;
        s.login_throttle.slowdown = Duration::ZERO;
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
