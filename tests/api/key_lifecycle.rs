//! The key lifecycle through the console and the verifier: rotation with a grace period,
//! editing, disabling and enabling, bulk revoke and disable, and revoking a removed member's
//! keys. Each on both backends.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use reqwest::Response;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::db::{audit_details, grace_of, key_row, set_key_times, user_id};
use crate::helpers::pages::{cell, select, text_of};
use crate::helpers::{Backend, Client, TestApp, extract_csrf, spawn_app};

both_backends! {
    the_old_secret_works_inside_the_grace_and_fails_after_it,
    the_grace_never_outlives_the_key_and_revoking_ends_both,
    regenerating_now_kills_the_old_secret_at_once,
    editing_permissions_turns_a_200_into_a_403_on_the_next_request,
    an_edit_is_validated_like_a_new_key_and_keeps_the_input,
    a_disabled_key_is_refused_until_it_is_enabled,
    a_bulk_revoke_lists_what_breaks_and_stops_every_key,
    a_bulk_action_on_all_matching_keys_takes_exactly_the_view,
    removing_a_member_can_revoke_the_keys_they_created,
    viewers_cannot_change_keys,
}

async fn auth(app: &TestApp, key: &str, require: Option<&str>) -> Response {
    let mut req = app.client().get_request("/api/v1/auth").header("X-Api-Key", key);
    if let Some(r) = require {
        req = req.header("X-Keyward-Require", r);
    }
    req.send().await.unwrap()
}

async fn code_of(res: Response) -> (u16, String) {
    let status = res.status().as_u16();
    let code = match res.json::<Value>().await {
        Ok(body) => body["error"]["code"].as_str().unwrap_or_default().to_owned(),
        Err(_) => String::new(),
    };
    (status, code)
}

fn deprecated(res: &Response) -> Option<String> {
    res.headers().get("x-keyward-key-deprecated").map(|v| v.to_str().unwrap().to_owned())
}

async fn owner_app(backend: Backend) -> TestApp {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    app
}

async fn the_old_secret_works_inside_the_grace_and_fails_after_it(backend: Backend) {
    let app = owner_app(backend).await;
    let web = app.client();
    let old = web.create_key("Deploy bot", &["records:read"], "30").await;
    let new = web.regenerate_with_grace(old.id, "1h").await;
    assert_eq!(new.id, old.id);
    assert_ne!(new.secret, old.secret);

    // Both verify; only the old one's answer says when it stops.
    let res = auth(&app, &old.secret, Some("records:read")).await;
    assert_eq!(res.status(), 200);
    let until = deprecated(&res).expect("the old secret's answer carries the deprecation header");
    let until = chrono::DateTime::parse_from_rfc3339(&until).unwrap().naive_utc();
    let expected = Utc::now().naive_utc() + TimeDelta::hours(1);
    assert!((until - expected).num_seconds().abs() < 30, "stops in an hour: {until}");
    let res = auth(&app, &new.secret, Some("records:read")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(deprecated(&res), None, "the new secret is not deprecated");
    let body: Value = web
        .post_request("/api/v1/keys/verify")
        .json(&serde_json::json!({ "key": old.secret }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["valid"], true);
    assert!(body["deprecated_until"].is_string(), "{body}");

    // The table says so.
    let table = web.get_text("/settings/api-keys").await;
    let key_cell = cell(&table, old.id, "Key");
    assert!(key_cell.contains("Old secret") && key_cell.contains("expires in 1 hour"), "{key_cell}");
    let details = audit_details(&app, old.id, "key.regenerated").await.unwrap();
    assert!(details.contains("works until"), "{details}");

    // The grace ends one second from now: the old secret works now and fails just after.
    let end = Utc::now().naive_utc() + TimeDelta::seconds(1);
    set_key_times(&app, old.id, None, Some(end)).await;
    assert_eq!(auth(&app, &old.secret, None).await.status(), 200, "inside the grace");
    let wait = (end - Utc::now().naive_utc()).to_std().unwrap_or_default() + Duration::from_millis(1000);
    tokio::time::sleep(wait).await;
    assert_eq!(code_of(auth(&app, &old.secret, None).await).await, (401, "unknown_key".into()));
    assert_eq!(auth(&app, &new.secret, None).await.status(), 200, "the new secret goes on");
    let table = web.get_text("/settings/api-keys").await;
    assert!(!cell(&table, old.id, "Key").contains("Old secret"), "the note goes with the grace");
}

async fn the_grace_never_outlives_the_key_and_revoking_ends_both(backend: Backend) {
    let app = owner_app(backend).await;
    let web = app.client();
    let old = web.create_key("Edge proxy", &["records:read"], "30").await;
    // The key expires in two hours: a day's grace is cut to that.
    let expiry = Utc::now().naive_utc() + TimeDelta::hours(2);
    set_key_times(&app, old.id, Some(Some(expiry)), None).await;
    let new = web.regenerate_with_grace(old.id, "24h").await;
    let (grace_end, _) = grace_of(&app, old.id).await;
    let grace_end = grace_end.expect("a grace period");
    assert!((grace_end - expiry).num_seconds().abs() <= 1, "{grace_end} vs {expiry}");

    // The confirmation says it too, before anyone chooses.
    let form = web.get_text(&format!("/settings/api-keys/{}/regenerate", old.id)).await;
    assert!(form.contains("stops now"), "a second regeneration ends the first one's grace");

    assert_eq!(auth(&app, &old.secret, None).await.status(), 200);
    web.revoke(old.id).await;
    assert_eq!(code_of(auth(&app, &old.secret, None).await).await, (401, "revoked_key".into()));
    assert_eq!(code_of(auth(&app, &new.secret, None).await).await, (401, "revoked_key".into()));
}

async fn regenerating_now_kills_the_old_secret_at_once(backend: Backend) {
    let app = owner_app(backend).await;
    let web = app.client();
    let old = web.create_key("Cron", &["records:read"], "30").await;
    let mid = web.regenerate_with_grace(old.id, "7d").await;
    // "Now" ends the secret being replaced and any earlier one still in its grace.
    let new = web.regenerate_with_grace(old.id, "now").await;
    for dead in [&old.secret, &mid.secret] {
        assert_eq!(code_of(auth(&app, dead, None).await).await, (401, "unknown_key".into()));
    }
    assert_eq!(auth(&app, &new.secret, None).await.status(), 200);
    // An unknown choice is refused beside the field, nothing changed.
    let path = format!("/settings/api-keys/{}/regenerate", old.id);
    let res = web.post_form(&path, &path, &[("old_secret_stops", "forever")]).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("Choose when the old secret stops working."));
    assert_eq!(auth(&app, &new.secret, None).await.status(), 200);
}

async fn editing_permissions_turns_a_200_into_a_403_on_the_next_request(backend: Backend) {
    let app = owner_app(backend).await;
    let web = app.client();
    let key = web.create_key("Reporting", &["records:read", "records:write"], "30").await;
    assert_eq!(auth(&app, &key.secret, Some("records:write")).await.status(), 200);

    let path = format!("/settings/api-keys/{}/edit", key.id);
    let form = web.get_text(&path).await;
    assert!(form.contains("value=\"Reporting\""), "the form starts from the key");
    let res = web
        .post_form(
            &path,
            &path,
            &[
                ("name", "Reporting (read only)"),
                ("description", "nightly export on web-3"),
                ("permissions", "records:read"),
                ("rate_limit_per_minute", "120"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap_or_default());

    let (status, code) = code_of(auth(&app, &key.secret, Some("records:write")).await).await;
    assert_eq!((status, code.as_str()), (403, "insufficient_permission"));
    assert_eq!(auth(&app, &key.secret, Some("records:read")).await.status(), 200, "same secret");
    let (name, _, permissions, _) = key_row(&app, key.id).await.unwrap();
    assert_eq!((name.as_str(), permissions.as_str()), ("Reporting (read only)", "records:read"));

    let details = audit_details(&app, key.id, "key.updated").await.expect("audited");
    for part in [
        "Name: \u{201c}Reporting\u{201d} \u{2192} \u{201c}Reporting (read only)\u{201d}",
        "permissions:",
        "\u{2192}",
        "120/min",
    ] {
        assert!(details.contains(part), "{part} in {details}");
    }
    let table = web.get_text("/settings/api-keys").await;
    assert!(cell(&table, key.id, "Name").contains("nightly export on web-3"));

    // Saving the same values again changes and records nothing.
    let res = web
        .post_form(
            &path,
            &path,
            &[
                ("name", "Reporting (read only)"),
                ("description", "nightly export on web-3"),
                ("permissions", "records:read"),
                ("rate_limit_per_minute", "120"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        crate::helpers::db::actions_for(&app, key.id).await.iter().filter(|a| *a == "key.updated").count(),
        1
    );
}

async fn an_edit_is_validated_like_a_new_key_and_keeps_the_input(backend: Backend) {
    let app = owner_app(backend).await;
    let web = app.client();
    web.create_key("Billing", &["records:read"], "30").await;
    let key = web.create_key("Search", &["records:read"], "30").await;
    let path = format!("/settings/api-keys/{}/edit", key.id);

    let res = web
        .post_form(
            &path,
            &path,
            &[("name", "billing"), ("description", "kept text"), ("permissions", "records:read")],
        )
        .await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    let doc = scraper::Html::parse_document(&html);
    let error = select(&doc, "#name-error");
    assert!(text_of(&error[0]).contains("already exists"), "the message sits beside the name");
    assert!(html.contains("kept text"), "the description typed is kept");

    let res = web
        .post_form(
            &path,
            &path,
            &[("name", "Search"), ("rate_limit_per_minute", "0"), ("permissions", "records:read")],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("id=\"rate_limit_per_minute-error\""));
    let res = web.post_form(&path, &path, &[("name", "Search"), ("description", "a\u{7}b")]).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"description-error\"") && html.contains("id=\"permissions-error\""));
    let (name, _, permissions, _) = key_row(&app, key.id).await.unwrap();
    assert_eq!((name.as_str(), permissions.as_str()), ("Search", "records:read"), "nothing saved");

    // A revoked key has no edit form.
    web.revoke(key.id).await;
    assert_eq!(web.get(&path).await.status(), 409);
}

async fn a_disabled_key_is_refused_until_it_is_enabled(backend: Backend) {
    let app = owner_app(backend).await;
    let web = app.client();
    let key = web.create_key("Partner feed", &["records:read"], "30").await;
    let confirm = web.get_text(&format!("/settings/api-keys/{}/disable", key.id)).await;
    assert!(confirm.contains("enable it again"), "the confirmation says it can be undone");
    web.action(&format!("/settings/api-keys/{}/disable", key.id), &[]).await;
    assert_eq!(code_of(auth(&app, &key.secret, None).await).await, (401, "disabled_key".into()));
    let table = web.get_text("/settings/api-keys?status=disabled").await;
    assert!(cell(&table, key.id, "Status").contains("Disabled"));
    assert!(
        web.get_text("/settings/api-keys?status=active")
            .await
            .find(&format!("data-key-id=\"{}\"", key.id))
            .is_none()
    );

    web.action(&format!("/settings/api-keys/{}/enable", key.id), &[]).await;
    assert_eq!(auth(&app, &key.secret, None).await.status(), 200, "the same secret works again");
    let actions = crate::helpers::db::actions_for(&app, key.id).await;
    assert!(actions.iter().any(|a| a == "key.disabled") && actions.iter().any(|a| a == "key.enabled"));

    // Revoked is final: a revoked key cannot be enabled.
    web.revoke(key.id).await;
    web.action(&format!("/settings/api-keys/{}/enable", key.id), &[]).await;
    assert_eq!(code_of(auth(&app, &key.secret, None).await).await, (401, "revoked_key".into()));
}

async fn bulk_confirmation(web: &Client, query: &str) -> String {
    let res = web.get(&format!("/settings/api-keys/bulk?{query}")).await;
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

async fn a_bulk_revoke_lists_what_breaks_and_stops_every_key(backend: Backend) {
    let app = owner_app(backend).await;
    let web = app.client();
    let a = web.create_key("Worker A", &["records:read"], "30").await;
    let b = web.create_key("Worker B", &["records:read"], "30").await;
    let c = web.create_key("Untouched", &["records:read"], "30").await;
    assert_eq!(auth(&app, &a.secret, None).await.status(), 200);

    let page = bulk_confirmation(web, &format!("action=revoke&id={}&id={}", a.id, b.id)).await;
    for name in ["Worker A", "Worker B", "Revoke 2 keys", "cannot be undone"] {
        assert!(page.contains(name), "{name} on the confirmation");
    }
    assert!(!page.contains("Untouched"));
    let token = extract_csrf(&page).unwrap();
    let (ida, idb) = (a.id.to_string(), b.id.to_string());
    let res = web
        .post_form_raw(
            "/settings/api-keys/bulk",
            &[("csrf_token", &token), ("action", "revoke"), ("id", &ida), ("id", &idb)],
        )
        .await;
    assert_eq!(res.status(), 303);
    for k in [&a, &b] {
        assert_eq!(code_of(auth(&app, &k.secret, None).await).await, (401, "revoked_key".into()));
    }
    assert_eq!(auth(&app, &c.secret, None).await.status(), 200);
    let flash = web.get_text("/settings/api-keys").await;
    assert!(flash.contains("Revoked 2 keys"), "the result is told");

    // Again: both are listed as already revoked and nothing can be confirmed.
    let page = bulk_confirmation(web, &format!("action=revoke&id={}&id={}", a.id, b.id)).await;
    assert!(page.contains("already revoked") && !page.contains("name=\"id\""));
    // Another workspace's ids and a forged token change nothing.
    let res = web
        .post_form_raw(
            "/settings/api-keys/bulk",
            &[("csrf_token", "forged"), ("action", "revoke"), ("id", &c.id.to_string())],
        )
        .await;
    assert!(res.status().is_client_error());
    assert_eq!(auth(&app, &c.secret, None).await.status(), 200);
}

async fn a_bulk_action_on_all_matching_keys_takes_exactly_the_view(backend: Backend) {
    let app = owner_app(backend).await;
    let web = app.client();
    let mut batch = Vec::new();
    for i in 0..3 {
        batch.push(web.create_key(&format!("batch-{i}"), &["records:read"], "30").await);
    }
    let other = web.create_key("production", &["records:read"], "30").await;
    let page = bulk_confirmation(web, "action=disable&all=matching&status=active&q=batch").await;
    for k in &batch {
        assert!(page.contains(&format!("value=\"{}\"", k.id)), "batch key {} listed", k.id);
    }
    assert!(!page.contains("production"), "a key outside the view is not taken");
    let token = extract_csrf(&page).unwrap();
    let ids: Vec<String> = batch.iter().map(|k| k.id.to_string()).collect();
    let mut form = vec![("csrf_token", token.as_str()), ("action", "disable")];
    form.extend(ids.iter().map(|id| ("id", id.as_str())));
    assert_eq!(web.post_form_raw("/settings/api-keys/bulk", &form).await.status(), 303);
    for k in &batch {
        assert_eq!(code_of(auth(&app, &k.secret, None).await).await, (401, "disabled_key".into()));
    }
    assert_eq!(auth(&app, &other.secret, None).await.status(), 200);
    // Nothing selected: back to the table with a message, nothing done.
    let res = web.get("/settings/api-keys/bulk?action=revoke").await;
    assert_eq!(res.status(), 303);
}

async fn removing_a_member_can_revoke_the_keys_they_created(backend: Backend) {
    let app = owner_app(backend).await;
    let admin = app.add_member("ops@example.com", "admin").await;
    let theirs = admin.create_key("Ops script", &["records:read"], "30").await;
    let mine = app.client().create_key("Owner's", &["records:read"], "30").await;
    let admin_id = user_id(&app, "ops@example.com").await;
    let path = format!("/settings/members/{admin_id}/remove");
    let page = app.client().get_text(&path).await;
    assert!(page.contains("Ops script") && page.contains("name=\"revoke_keys\""), "the removal offers it");
    assert!(!page.contains("Owner's"), "only their keys");
    let res = app.client().post_form(&path, &path, &[("revoke_keys", "on")]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(code_of(auth(&app, &theirs.secret, None).await).await, (401, "revoked_key".into()));
    assert_eq!(auth(&app, &mine.secret, None).await.status(), 200);
}

async fn viewers_cannot_change_keys(backend: Backend) {
    let app = owner_app(backend).await;
    let key = app.client().create_key("Guarded", &["records:read"], "30").await;
    let viewer = app.add_member("viewer@example.com", "viewer").await;
    for action in ["edit", "disable", "regenerate"] {
        let res = viewer.get(&format!("/settings/api-keys/{}/{action}", key.id)).await;
        assert_eq!(res.status(), 403, "{action}");
    }
    let res = viewer.get(&format!("/settings/api-keys/bulk?action=revoke&id={}", key.id)).await;
    assert_eq!(res.status(), 403);
    assert_eq!(auth(&app, &key.secret, None).await.status(), 200);
}
