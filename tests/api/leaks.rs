//! Leak reports (`POST /api/v1/leaks`): a secret scanner posts GitHub's partner payload, and
//! each reported keyward key stops at once (revoked, or disabled by the workspace's policy),
//! with its audit entry, its webhook events and an email to the owners; unknown and malformed
//! tokens change nothing; with `KEYWARD_LEAK_REPORT_KEYS` only reports signed as GitHub signs
//! them are taken.

use std::time::Duration;

use base64::Engine;
use keyward::config::LeakReportKeys;
use keyward::keys::policy::{LeakAction, Policy};
use keyward::keys::{ApiKey, Environment, KeyHash};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::client::input_value;
use crate::helpers::pages::no_store;
use crate::helpers::webhook_receiver::{Behaviour, Receiver};
use crate::helpers::{
    Backend, Client, OWNER_EMAIL, SmtpServer, TestApp, Verdict, assert_is_redirect_to, db, keyward_command,
    spawn_app, spawn_app_with,
};

both_backends! {
    a_reported_key_is_revoked_at_once_and_refused_on_the_next_verify,
    under_the_disable_policy_a_reported_key_is_disabled,
    unknown_and_malformed_tokens_change_nothing,
    a_mixed_report_is_answered_token_by_token_in_order,
    the_owners_are_emailed_and_a_key_leaked_webhook_is_delivered,
    a_replaced_secret_in_its_grace_period_reported_ends_its_grace_only,
    with_report_keys_only_correctly_signed_reports_are_taken,
    oversize_and_malformed_reports_are_refused_with_json_errors,
    the_leak_policy_is_shown_saved_and_audited_on_the_policies_page,
    a_reported_management_token_is_revoked_and_the_owners_are_told,
}

const PATH: &str = "/api/v1/leaks";
const URL: &str = "https://github.com/acme/site/blob/0123abc/config/production.env";

fn sha256(token: &str) -> String {
    KeyHash::of(token).as_str().to_owned()
}

fn token(secret: &str) -> Value {
    json!({"token": secret, "type": "keyward_api_key", "url": URL, "source": "content"})
}

/// Posts a report body as is, with extra headers.
async fn post(app: &TestApp, body: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req =
        app.client().post_request(PATH).header("content-type", "application/json").body(body.to_owned());
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.expect("the report is answered")
}

/// Reports the tokens; the answer must be 200, one entry per token.
async fn report(app: &TestApp, tokens: &[Value]) -> Vec<Value> {
    let res = post(app, &Value::from(tokens.to_vec()).to_string(), &[]).await;
    assert_eq!(res.status(), 200);
    assert!(no_store(&res));
    let answer: Vec<Value> = res.json().await.unwrap();
    assert_eq!(answer.len(), tokens.len(), "{answer:?}");
    answer
}

fn outcomes(answer: &[Value]) -> Vec<&str> {
    answer.iter().map(|a| a["outcome"].as_str().unwrap()).collect()
}

async fn owner_app(backend: Backend) -> TestApp {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    app
}

async fn a_reported_key_is_revoked_at_once_and_refused_on_the_next_verify(backend: Backend) {
    let app = owner_app(backend).await;
    let owner = app.client();
    let key = owner.create_key("Billing", &["records:read"], "30").await;
    // Verified once, so a verifier holding it in memory must hear of the revocation.
    assert_eq!(owner.verify(&key.secret).await, Verdict::Valid);

    let answer = report(&app, &[token(&key.secret)]).await;
    assert_eq!(
        answer[0],
        json!({
            "token_hash": sha256(&key.secret),
            "token_type": "keyward_api_key",
            "label": "true_positive",
            "outcome": "revoked",
        })
    );
    assert_eq!(owner.verify(&key.secret).await, Verdict::Refused("revoked_key".into()));

    let details = db::audit_details(&app, key.id, "key.leaked").await.expect("the report is audited");
    assert!(
        details.contains(URL) && details.contains("source: content") && details.contains("revoked"),
        "{details}"
    );
    let rows = db::audit_rows(&app).await;
    let (actor, ..) = rows.iter().find(|(_, action, ..)| action == "key.leaked").unwrap();
    assert_eq!(actor, "system");
    for (_, _, _, details) in &rows {
        assert!(!details.contains(&key.secret), "an audit entry holds the key: {details}");
    }
    // The console shows it revoked by the report.
    let page = owner.get_text(&format!("/settings/api-keys/{}", key.id)).await;
    assert!(page.contains("Revoked") && page.contains("Key reported leaked"), "{page}");

    // Reported again: already revoked, nothing more recorded.
    let again = report(&app, &[token(&key.secret)]).await;
    assert_eq!(outcomes(&again), ["already_revoked"]);
    assert_eq!(again[0]["label"], "true_positive");
    let leaked_rows = db::audit_rows(&app).await.into_iter().filter(|r| r.1 == "key.leaked").count();
    assert_eq!(leaked_rows, 1);
}

async fn under_the_disable_policy_a_reported_key_is_disabled(backend: Backend) {
    let app = owner_app(backend).await;
    let owner = app.client();
    let ws = db::first_workspace(&app).await;
    db::set_policy(&app, ws, Policy { leak_action: LeakAction::Disable, ..Policy::default() }).await;
    let key = owner.create_key("Billing", &["records:read"], "30").await;
    let revoked = owner.create_key("Old", &["records:read"], "30").await;
    owner.revoke(revoked.id).await;
    assert_eq!(owner.verify(&key.secret).await, Verdict::Valid);

    let answer = report(&app, &[token(&key.secret), token(&revoked.secret)]).await;
    assert_eq!(outcomes(&answer), ["disabled", "already_revoked"]);
    assert_eq!(owner.verify(&key.secret).await, Verdict::Refused("disabled_key".into()));
    let details = db::audit_details(&app, key.id, "key.leaked").await.unwrap();
    assert!(details.contains("disabled") && details.contains(URL), "{details}");

    assert_eq!(outcomes(&report(&app, &[token(&key.secret)]).await), ["already_disabled"]);
    // An owner who finds the report mistaken enables it again.
    let page = format!("/settings/api-keys/{}", key.id);
    owner.post_form(&page, &format!("{page}/enable"), &[]).await;
    assert_eq!(owner.verify(&key.secret).await, Verdict::Valid);
}

async fn unknown_and_malformed_tokens_change_nothing(backend: Backend) {
    let app = owner_app(backend).await;
    let owner = app.client();
    let key = owner.create_key("Billing", &["records:read"], "30").await;
    let audit_before = db::audit_rows(&app).await.len();
    let events_before = db::webhook_events(&app).await.len();

    let unknown = ApiKey::generate(Environment::Live);
    let unknown_test = ApiKey::generate(Environment::Test);
    let mut typo = key.secret.clone();
    let other = if &typo[20..21] == "a" { "b" } else { "a" };
    typo.replace_range(20..21, other);
    let tokens = [
        token(unknown.expose()),
        token(unknown_test.expose()),
        token(&typo),
        token(&key.secret[..45]),
        token(&key.secret.replacen("kw_live_", "kw_prod_", 1)),
        json!({"token": "", "type": "keyward_api_key"}),
        json!({"token": "AKIAIOSFODNN7EXAMPLE"}),
    ];
    let answer = report(&app, &tokens).await;
    assert_eq!(
        outcomes(&answer),
        ["unknown", "unknown", "malformed", "malformed", "malformed", "malformed", "malformed"]
    );
    assert!(answer.iter().all(|a| a["label"] == "false_positive"), "{answer:?}");
    assert_eq!(answer[6]["token_type"], "", "a missing type is answered empty");
    assert_eq!(answer[6]["token_hash"], sha256("AKIAIOSFODNN7EXAMPLE"));

    assert_eq!(owner.verify(&key.secret).await, Verdict::Valid, "another key still works");
    assert_eq!(db::audit_rows(&app).await.len(), audit_before, "no audit entry");
    assert_eq!(db::webhook_events(&app).await.len(), events_before, "no event");
    assert_eq!(db::key_row(&app, key.id).await.unwrap().3, None, "not revoked");
}

async fn a_mixed_report_is_answered_token_by_token_in_order(backend: Backend) {
    let app = owner_app(backend).await;
    let owner = app.client();
    let a = owner.create_key("A", &["records:read"], "30").await;
    let b = owner.create_key("B", &["records:read"], "30").await;
    let c = owner.create_key("C", &["records:read"], "30").await;
    owner.revoke(b.id).await;
    let unknown = ApiKey::generate(Environment::Live);
    let tokens = [
        json!({"token": "kw_live_nope", "type": "t1", "url": null, "extra": {"ignored": true}}),
        json!({"token": a.secret, "type": "t2"}),
        json!({"token": unknown.expose(), "type": "t3", "url": URL}),
        json!({"token": b.secret, "type": "t4", "source": "commit"}),
        json!({"token": a.secret, "type": "t5"}),
    ];
    let answer = report(&app, &tokens).await;
    assert_eq!(outcomes(&answer), ["malformed", "revoked", "unknown", "already_revoked", "already_revoked"]);
    let secrets = ["kw_live_nope", &a.secret, unknown.expose(), &b.secret, &a.secret];
    for (i, (entry, secret)) in answer.iter().zip(secrets).enumerate() {
        assert_eq!(entry["token_hash"], sha256(secret), "entry {i}");
        assert_eq!(entry["token_type"], format!("t{}", i + 1), "entry {i}");
    }
    let text = answer.iter().map(Value::to_string).collect::<String>();
    assert!(!text.contains(&a.secret) && !text.contains(&b.secret), "the answer never echoes a token");
    assert_eq!(owner.verify(&c.secret).await, Verdict::Valid);
    assert_eq!(owner.verify(&a.secret).await, Verdict::Refused("revoked_key".into()));
}

/// Adds an endpoint through the console; answers the signing secret shown once.
async fn add_endpoint(client: &Client, url: &str, events: &[&str]) -> String {
    let mut form = vec![("url", url), ("description", "leak receiver")];
    form.extend(events.iter().map(|e| ("events", *e)));
    let res = client.post_form("/settings/webhooks/new", "/settings/webhooks", &form).await;
    assert_eq!(res.status(), 303);
    let to = res.headers().get("location").unwrap().to_str().unwrap().to_owned();
    input_value(&client.get_text(&to).await, "signing-secret").expect("the secret is shown")
}

async fn the_owners_are_emailed_and_a_key_leaked_webhook_is_delivered(backend: Backend) {
    let Some(smtp) = SmtpServer::start().await else { return };
    let Some(receiver) = Receiver::start(Behaviour::default()) else { return };
    let app = spawn_app_with(backend, |s| {
        s.smtp = Some(smtp.settings());
        s.webhooks.allow_private = true;
        s.webhooks.poll_interval = Duration::from_millis(100);
    })
    .await;
    app.setup_owner().await;
    let owner = app.client();
    app.add_member("bob@example.com", "owner").await;
    let ada = app.add_member("ada@example.com", "admin").await;
    let secret = add_endpoint(owner, &receiver.url("/hook"), &["key.leaked", "key.revoked"]).await;
    receiver.set_secret(&secret);
    let key = ada.create_key("Billing", &["records:read"], "30").await;

    assert_eq!(outcomes(&report(&app, &[token(&key.secret)]).await), ["revoked"]);

    // The owners, not the admin who made it; the invitations went to the other two.
    let leak_mails = || {
        let mut m = smtp.messages();
        m.retain(|m| m.subject.contains("found in public"));
        m
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while leak_mails().len() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mails = leak_mails();
    let mut to: Vec<&str> = mails.iter().map(|m| m.to.as_str()).collect();
    to.sort();
    assert_eq!(to, ["bob@example.com", OWNER_EMAIL], "{mails:#?}");
    for m in &mails {
        assert_eq!(m.subject, "API key \u{201c}Billing\u{201d} in Acme was found in public and revoked");
        assert!(m.body.contains(URL) && m.body.contains("kw_live_\u{2026}"), "{}", m.body);
        assert!(!m.body.contains(&key.secret), "an email holds the key");
    }

    let hits = receiver.wait_for(Duration::from_secs(15), |h| h.len() >= 2).await;
    let mut types: Vec<String> = hits.iter().filter_map(|h| h.event_type.clone()).collect();
    types.sort();
    assert_eq!(types, ["key.leaked", "key.revoked"], "{hits:#?}");
    assert!(hits.iter().all(|h| h.verified), "{hits:#?}");
    let leaked = hits.iter().find(|h| h.event_type.as_deref() == Some("key.leaked")).unwrap();
    let body: Value = serde_json::from_str(&leaked.body).unwrap();
    assert_eq!(body["data"]["action"], "revoked", "{body}");
    assert_eq!(body["data"]["report"]["url"], URL, "{body}");
    assert_eq!(body["data"]["report"]["source"], "content", "{body}");
    assert_eq!(body["data"]["key"]["status"], "revoked", "{body}");
    assert!(hits.iter().all(|h| !h.body.contains(&key.secret)), "a payload holds the key");
}

async fn a_replaced_secret_in_its_grace_period_reported_ends_its_grace_only(backend: Backend) {
    let app = owner_app(backend).await;
    let owner = app.client();
    let key = owner.create_key("Billing", &["records:read"], "30").await;
    let new = owner.regenerate_with_grace(key.id, "24h").await;
    assert_eq!(owner.verify(&key.secret).await, Verdict::Valid, "the old secret is in its grace period");

    let answer = report(&app, &[token(&key.secret)]).await;
    assert_eq!(outcomes(&answer), ["revoked"]);
    assert_ne!(owner.verify(&key.secret).await, Verdict::Valid, "the reported old secret stopped");
    assert_eq!(owner.verify(&new.secret).await, Verdict::Valid, "the current secret keeps working");
    assert_eq!(db::grace_of(&app, key.id).await.0, None, "the grace period ended");
    let details = db::audit_details(&app, key.id, "key.leaked").await.unwrap();
    assert!(details.contains("grace period") && details.contains("keeps working"), "{details}");
    // Reported again, the old secret is no longer any key's.
    assert_eq!(outcomes(&report(&app, &[token(&key.secret)]).await), ["unknown"]);
    // The current secret reported: the key is revoked.
    assert_eq!(outcomes(&report(&app, &[token(&new.secret)]).await), ["revoked"]);
    assert_eq!(owner.verify(&new.secret).await, Verdict::Refused("revoked_key".into()));
}

fn raw_exchange(port: u16, bytes: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn sign(key: &SigningKey, body: &str) -> String {
    let signature: Signature = key.sign(body.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes())
}

fn new_signing_key() -> SigningKey {
    loop {
        let bytes: [u8; 32] = rand::random();
        if let Ok(key) = SigningKey::from_slice(&bytes) {
            return key;
        }
    }
}

async fn with_report_keys_only_correctly_signed_reports_are_taken(backend: Backend) {
    let (github, stranger) = (new_signing_key(), new_signing_key());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret_scanning.json");
    let pem = github.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
    let list = json!({"public_keys": [{"key_identifier": "kid-1", "key": pem, "is_current": true}]});
    std::fs::write(&file, list.to_string()).unwrap();
    let keys = LeakReportKeys::load(&file).expect("the key list is read");
    let app = spawn_app_with(backend, move |s| s.leak_report_keys = Some(keys)).await;
    app.setup_owner().await;
    let owner = app.client();
    let key = owner.create_key("Billing", &["records:read"], "30").await;
    let body = Value::from(vec![token(&key.secret)]).to_string();

    let id = |v: &str| ("Github-Public-Key-Identifier", v.to_owned());
    let sig = |s: String| ("Github-Public-Key-Signature", s);
    let refused = [
        (vec![], "signature_missing"),
        (vec![id("kid-1")], "signature_missing"),
        (vec![sig(sign(&github, &body))], "signature_missing"),
        (vec![id("kid-1"), sig(sign(&stranger, &body))], "signature_invalid"),
        (vec![id("kid-1"), sig(sign(&github, "[]"))], "signature_invalid"),
        (vec![id("kid-1"), sig("bm90IGEgc2lnbmF0dXJl".to_owned())], "signature_invalid"),
        (vec![id("kid-2"), sig(sign(&github, &body))], "signature_unknown_key"),
    ];
    for (headers, code) in refused {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let res = post(&app, &body, &headers).await;
        assert_eq!(res.status(), 401, "{headers:?}");
        let json: Value = res.json().await.unwrap();
        assert_eq!(json["error"]["code"], code, "{headers:?}: {json}");
    }
    assert_eq!(owner.verify(&key.secret).await, Verdict::Valid, "no refused report changed anything");
    assert!(db::audit_details(&app, key.id, "key.leaked").await.is_none());

    let signature = sign(&github, &body);
    let headers =
        [("Github-Public-Key-Identifier", "kid-1"), ("Github-Public-Key-Signature", signature.as_str())];
    let res = post(&app, &body, &headers).await;
    assert_eq!(res.status(), 200);
    let answer: Vec<Value> = res.json().await.unwrap();
    assert_eq!(outcomes(&answer), ["revoked"]);
    assert_eq!(owner.verify(&key.secret).await, Verdict::Refused("revoked_key".into()));
}

async fn oversize_and_malformed_reports_are_refused_with_json_errors(backend: Backend) {
    let app = owner_app(backend).await;
    let owner = app.client();
    let key = owner.create_key("Billing", &["records:read"], "30").await;
    let code = |v: &Value| v["error"]["code"].as_str().unwrap_or_default().to_owned();

    // Over 1 MiB announced: refused on the header alone, before any of it is read. (None of it
    // is sent: a body sent too would race the server's close against our write.)
    let port = app.port;
    let head = format!(
        "POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Connection: close\r\nContent-Length: {}\r\n\r\n",
        1024 * 1024 + 1
    );
    let answer = tokio::task::spawn_blocking(move || raw_exchange(port, head.as_bytes())).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"body_too_large\""), "{answer}");

    let many: Vec<Value> = (0..1001).map(|_| json!({"token": "kw_live_x", "type": "t"})).collect();
    let res = post(&app, &Value::from(many).to_string(), &[]).await;
    assert_eq!(res.status(), 413);
    let json: Value = res.json().await.unwrap();
    assert_eq!(code(&json), "too_many_tokens");
    assert!(json["error"]["message"].as_str().unwrap().contains("1000"), "{json}");

    for bad in
        ["", "{}", "not json", "[{\"type\": \"t\"}]", "[{\"token\": 7}]", "[{\"token\": \"a\", \"url\": 1}]"]
    {
        let res = post(&app, bad, &[]).await;
        assert_eq!(res.status(), 400, "{bad:?}");
        assert_eq!(code(&res.json().await.unwrap()), "invalid_body", "{bad:?}");
    }
    let res = owner.get(PATH).await;
    assert_eq!(res.status(), 405);
    assert!(res.text().await.unwrap().contains("\"error\""));
    assert_eq!(report(&app, &[]).await.len(), 0, "an empty report is answered empty");
    assert_eq!(owner.verify(&key.secret).await, Verdict::Valid);
}

async fn the_leak_policy_is_shown_saved_and_audited_on_the_policies_page(backend: Backend) {
    let app = owner_app(backend).await;
    let owner = app.client();
    let ws = db::first_workspace(&app).await;
    let policies = "/settings/policies";
    let html = owner.get_text(policies).await;
    assert!(html.contains("When a key is reported leaked"), "{html}");
    assert!(
        html.contains("id=\"leak_action-revoke\" name=\"leak_action\" value=\"revoke\" checked"),
        "{html}"
    );

    let form = |leak: &'static str| {
        vec![
            ("max_lifetime", "none"),
            ("unused_revoke_days", ""),
            ("full_access_by", "admins"),
            ("leak_action", leak),
        ]
    };
    let res = owner.post_form(policies, policies, &form("ignore")).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("Choose what happens to a key reported leaked."), "{html}");
    assert_eq!(db::policy_of(&app, ws).await, Policy::default(), "nothing changed");

    assert_is_redirect_to(&owner.post_form(policies, policies, &form("disable")).await, policies);
    assert_eq!(db::policy_of(&app, ws).await.leak_action, LeakAction::Disable);
    let html = owner.get_text(policies).await;
    assert!(
        html.contains("id=\"leak_action-disable\" name=\"leak_action\" value=\"disable\" checked"),
        "{html}"
    );
    let rows = db::audit_rows(&app).await;
    let (_, _, _, details) = rows.iter().find(|(_, a, ..)| a == "policy.changed").unwrap();
    assert_eq!(details, "When a key is reported leaked: revoke it \u{2192} disable it");
}

/// A key file that cannot be used stops the start with the one line `main` prints, naming the
/// setting: a server that started anyway would refuse every report, or take unsigned ones.
#[test]
fn a_bad_leak_report_key_file_stops_the_start_with_one_line_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("keys.pem");
    std::fs::write(&garbage, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").unwrap();
    let missing = dir.path().join("missing.json");
    for (file, reason) in [(&garbage, "P-256"), (&missing, "No such file")] {
        let out = keyward_command()
            .env_remove("RUST_LOG")
            .env("KEYWARD_BIND", "127.0.0.1:0")
            .env("KEYWARD_DATABASE_URL", format!("sqlite://{}", dir.path().join("k.db").display()))
            .env("KEYWARD_LEAK_REPORT_KEYS", file)
            .output()
            .expect("run keyward");
        assert_ne!(out.status.code(), Some(0));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<_> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{stderr}");
        assert!(lines[0].starts_with("keyward: KEYWARD_LEAK_REPORT_KEYS"), "{stderr}");
        assert!(lines[0].contains(reason) && lines[0].contains(&*file.to_string_lossy()), "{stderr}");
    }
    assert!(!dir.path().join("k.db").exists(), "nothing started");
}

async fn a_reported_management_token_is_revoked_and_the_owners_are_told(backend: Backend) {
    let Some(smtp) = SmtpServer::start().await else { return };
    let app = spawn_app_with(backend, |s| s.smtp = Some(smtp.settings())).await;
    app.setup_owner().await;
    let ws = db::first_workspace(&app).await;
    let request = keyward::keys::management::NewToken {
        name: keyward::keys::KeyName::parse("Terraform").unwrap(),
        scopes: keyward::keys::management::TokenScopes::parse(["keys:write"]).unwrap(),
        expiry: keyward::keys::Expiry::Days(30),
    };
    let (_, mgmt) =
        keyward::keys::management::create(&app.state.db, &Default::default(), ws, request).await.unwrap();
    let mgmt = mgmt.expose().to_owned();
    let list = |token: String| {
        let url = app.client().url("/api/v1/manage/keys");
        async move { reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap().status() }
    };
    assert_eq!(list(mgmt.clone()).await, 200);

    let answer = report(&app, &[token(&mgmt)]).await;
    assert_eq!(outcomes(&answer), ["revoked"]);
    assert_eq!(
        (answer[0]["label"].as_str(), answer[0]["token_hash"].as_str()),
        (Some("true_positive"), Some(sha256(&mgmt).as_str()))
    );
    assert_eq!(list(mgmt.clone()).await, 401, "refused from the next request");
    assert_eq!(outcomes(&report(&app, &[token(&mgmt)]).await), ["already_revoked"]);
    let details = db::audit_actions(&app).await;
    assert!(details.iter().any(|(action, _)| action == "token.leaked"), "{details:?}");

    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mails = loop {
        let mut m = smtp.messages();
        m.retain(|m| m.subject.contains("found in public"));
        if !m.is_empty() || std::time::Instant::now() > deadline {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert_eq!(mails[0].to, OWNER_EMAIL);
    assert_eq!(
        mails[0].subject,
        "Management token \u{201c}Terraform\u{201d} of Acme was found in public and revoked"
    );
    assert!(mails[0].body.contains(URL) && !mails[0].body.contains(&mgmt), "{}", mails[0].body);
}
