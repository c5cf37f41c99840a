//! The HTTP edge: which host the console answers for, the setup code that stops a stranger
//! (or a rebinding page) from claiming a fresh instance, the Origin check's scheme, TLS-only
//! headers and cookie names, caching, and what the verifier tells about keys that do not work.

use chrono::{TimeDelta, Utc};
use diesel::prelude::*;
use keyward::db::DbError;
use keyward::db::schema::audit_events;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::db::{SeedKey, revoke_key, seed_key};
use crate::helpers::{
    Backend, OWNER_EMAIL, OWNER_PASSWORD, TestApp, assert_is_redirect_to, extract_csrf, spawn_app,
    spawn_app_with,
};

both_backends! {
    a_rebinding_page_cannot_claim_a_fresh_instance_without_the_setup_code,
    a_failed_sign_in_keeps_typed_text_only_when_it_is_an_email,
    verify_tells_nothing_about_keys_that_do_not_work,
}

const PUBLIC_HOST: &str = "keys.example.test";

fn raw_client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn public_app() -> TestApp {
    spawn_app_with(Backend::Sqlite, |s| {
        s.public_url = Some(url::Url::parse(&format!("https://{PUBLIC_HOST}")).unwrap());
    })
    .await
}

/// A DNS-rebinding page reaches the server under its own name: `Host` and `Origin` both name
/// the attacker's domain, and it can read the form's CSRF token. Before the setup code, that
/// completed setup and made the attacker owner.
async fn a_rebinding_page_cannot_claim_a_fresh_instance_without_the_setup_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = app.new_client();
    let evil = "rebound.attacker.example";
    let form = browser.get_request("/setup").header("Host", evil).send().await.unwrap().text().await.unwrap();
    let token = extract_csrf(&form).expect("the page has a token");
    let res = browser
        .post_request("/setup")
        .header("Host", evil)
        .header("Origin", format!("http://{evil}"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("setup_code", ""),
            ("email", "attacker@example.com"),
            ("password", OWNER_PASSWORD),
            ("password_confirm", OWNER_PASSWORD),
            ("workspace_name", "Mine now"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("Enter the setup code"), "{html}");
    assert!(html.contains("value=\"attacker@example.com\""), "what was typed is kept");
    // A guessed code is refused too, and the instance is still waiting for its owner.
    let guessed = [
        ("csrf_token", token.as_str()),
        ("setup_code", "AAAA-AAAA-AAAA-AAAA"),
        ("email", "attacker@example.com"),
        ("password", OWNER_PASSWORD),
        ("password_confirm", OWNER_PASSWORD),
        ("workspace_name", "Mine now"),
    ];
    let res = browser.post_form_raw("/setup", &guessed).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("That is not this server"));
    assert_eq!(app.client().get("/setup").await.status(), 200);
    // The operator, with the code from the log, sets it up.
    app.setup_owner().await;
}

/// With a public URL, the console answers only for its host; the verifier and the health
/// checks answer any (services and load balancers use internal names).
#[tokio::test]
async fn with_a_public_url_the_console_answers_only_for_its_host() {
    let app = public_app().await;
    let http = raw_client();
    let get = |path: &str, host: &str| http.get(app.url(path)).header("Host", host.to_owned()).send();
    let refused = get("/setup", "rebound.attacker.example").await.unwrap();
    assert_eq!(refused.status(), 421);
    assert!(refused.text().await.unwrap().contains(&format!("https://{PUBLIC_HOST}")));
    assert_eq!(get("/login", "127.0.0.1").await.unwrap().status(), 421, "not by address either");
    assert_eq!(get("/setup", PUBLIC_HOST).await.unwrap().status(), 200);
    assert_eq!(get("/setup", &format!("{PUBLIC_HOST}:443")).await.unwrap().status(), 200);
    assert_eq!(get("/healthz", "10.0.0.7:8080").await.unwrap().status(), 200);
    assert_eq!(get("/api/v1/ping", "keyward.internal").await.unwrap().status(), 200);
    let token = extract_csrf(&get("/setup", PUBLIC_HOST).await.unwrap().text().await.unwrap()).unwrap();
    let post = http
        .post(app.url("/setup"))
        .header("Host", "rebound.attacker.example")
        .header("Origin", "http://rebound.attacker.example")
        .form(&[("csrf_token", token.as_str()), ("setup_code", &app.setup_code())])
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 421);
}

/// Over TLS (an https public URL): HSTS on every answer, and the session cookie's name has the
/// `__Host-` prefix, which browsers accept only with `Secure`, `Path=/` and no `Domain`.
#[tokio::test]
async fn an_https_public_url_turns_on_hsts_and_a_host_only_cookie() {
    let app = public_app().await;
    let http = raw_client();
    for path in ["/setup", "/healthz", "/api/v1/ping", "/no-such-page"] {
        let res = http.get(app.url(path)).header("Host", PUBLIC_HOST).send().await.unwrap();
        let hsts = res.headers().get("strict-transport-security").map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(hsts.as_deref(), Some("max-age=31536000"), "{path}");
    }
    let res = http.get(app.url("/setup")).header("Host", PUBLIC_HOST).send().await.unwrap();
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("__Host-keyward_session="), "{cookie}");
    for attribute in ["Secure", "HttpOnly", "Path=/", "SameSite=Lax"] {
        assert!(cookie.split("; ").any(|a| a == attribute), "{attribute} missing: {cookie}");
    }
    assert!(!cookie.contains("Domain="), "{cookie}");

    // Plain HTTP (no public URL): neither, as before.
    let plain = spawn_app(Backend::Sqlite).await;
    let res = http.get(plain.url("/setup")).send().await.unwrap();
    assert!(res.headers().get("strict-transport-security").is_none());
    assert!(res.headers()["set-cookie"].to_str().unwrap().starts_with("keyward_session="));
}

/// A page from the same host over another scheme is another origin.
#[tokio::test]
async fn the_origin_check_compares_the_scheme_too() {
    let app = spawn_app(Backend::Sqlite).await;
    let web = app.client();
    let token = web.csrf_token("/setup").await;
    let code = app.setup_code();
    let fields = [
        ("csrf_token", token.as_str()),
        ("setup_code", code.as_str()),
        ("email", OWNER_EMAIL),
        ("password", OWNER_PASSWORD),
        ("password_confirm", OWNER_PASSWORD),
        ("workspace_name", "Acme"),
    ];
    let other_scheme = format!("https://127.0.0.1:{}", app.port);
    let res = web.post_request("/setup").header("Origin", other_scheme).form(&fields).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let same = format!("http://127.0.0.1:{}", app.port);
    let res = web.post_request("/setup").header("Origin", same).form(&fields).send().await.unwrap();
    assert_is_redirect_to(&res, "/settings/api-keys");
}

/// Console pages name keys, members and addresses: no cache may keep them (the back button
/// after signing out shows nothing). The static files keep their year-long caching.
#[tokio::test]
async fn console_pages_are_never_cached() {
    let app = spawn_app(Backend::Sqlite).await;
    let anonymous = app.new_client();
    let cache = |res: &reqwest::Response| {
        res.headers().get("cache-control").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
    };
    assert_eq!(cache(&anonymous.get("/setup").await), "no-store");
    app.setup_owner().await;
    assert_eq!(cache(&anonymous.get("/login").await), "no-store");
    assert_eq!(cache(&anonymous.get("/no-such-page").await), "no-store");
    let web = app.client();
    for page in ["/settings/api-keys", "/settings/api-keys/new", "/settings/members", "/settings/audit-log"] {
        let res = web.get(page).await;
        assert_eq!(res.status(), 200, "{page}");
        assert_eq!(cache(&res), "no-store", "{page}");
    }
    assert!(cache(&web.get("/static/app.css").await).contains("immutable"));
}

/// Typed into the email field, a password must not land in the audit log every admin reads.
async fn a_failed_sign_in_keeps_typed_text_only_when_it_is_an_email(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let stranger = app.new_client();
    let typed_password = "Tr0ub4dor&3 my password";
    assert_eq!(stranger.sign_in(typed_password, "x").await.status(), 401);
    assert_eq!(stranger.sign_in(OWNER_EMAIL, "not the password at all").await.status(), 401);
    let actors: Vec<(String, String)> = app
        .state
        .db
        .run(|conn| -> Result<_, DbError> {
            Ok(audit_events::table
                .filter(audit_events::action.eq("user.sign_in_failed"))
                .order(audit_events::id.asc())
                .select((audit_events::actor, audit_events::details))
                .load(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(actors.len(), 2, "{actors:?}");
    assert_eq!(actors[0].0, "(not an email address)");
    assert_eq!(actors[1].0, OWNER_EMAIL);
    assert!(actors.iter().all(|(a, d)| !a.contains("Tr0ub4dor") && !d.contains("Tr0ub4dor")));
}

/// `/verify` with a revoked, expired or unknown secret answers the code and nothing about the
/// key; a good key refused for a permission still says which key it is.
async fn verify_tells_nothing_about_keys_that_do_not_work(backend: Backend) {
    let app = spawn_app(backend).await;
    let revoked = seed_key(&app, SeedKey { name: "Old deploy bot", ..Default::default() }).await;
    revoke_key(&app, revoked.id).await;
    let expired = seed_key(
        &app,
        SeedKey {
            name: "Expired bot",
            expires_at: Some(Utc::now().naive_utc() - TimeDelta::days(1)),
            ..Default::default()
        },
    )
    .await;
    let narrow =
        seed_key(&app, SeedKey { name: "Narrow bot", permissions: "records:read", ..Default::default() })
            .await;
    let app = &app;
    let verify = |body: Value| async move {
        let res = app.client().post_request("/api/v1/keys/verify").json(&body).send().await.unwrap();
        assert_eq!(res.status(), 200);
        res.json::<Value>().await.unwrap()
    };
    for (secret, code) in [(revoked.secret(), "revoked_key"), (expired.secret(), "expired_key")] {
        let body = verify(json!({"key": secret})).await;
        let mut fields: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["code", "message", "valid"], "{body}");
        assert_eq!(body["code"], code);
        assert!(!body.to_string().contains("bot"), "{body}");
    }
    let body = verify(json!({"key": narrow.secret(), "permissions": ["records:write"]})).await;
    assert_eq!(body["code"], "insufficient_permission");
    assert_eq!(body["key_id"], narrow.id);
    assert_eq!(body["name"], "Narrow bot");
}

/// Only `require` is a parameter of forward-auth: a misspelt one would otherwise let the
/// request through with no requirement at all.
#[tokio::test]
async fn forward_auth_refuses_unknown_query_parameters() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = seed_key(&app, SeedKey { permissions: "records:read", ..Default::default() }).await;
    let auth = |query: &'static str| {
        app.client().get_request(&format!("/api/v1/auth{query}")).header("X-Api-Key", key.secret()).send()
    };
    let res = auth("?requires=records:write").await.unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unknown_parameter");
    assert!(body["error"]["message"].as_str().unwrap().contains("`requires`"), "{body}");
    assert_eq!(auth("?require=records:read").await.unwrap().status(), 200);
    assert_eq!(auth("?require=records:write").await.unwrap().status(), 403);
    assert_eq!(auth("").await.unwrap().status(), 200);
    let body: Value = auth("?page=2&api_key=x").await.unwrap().json().await.unwrap();
    assert_eq!(body["error"]["code"], "key_in_query", "a key in the URL is named first");
}
