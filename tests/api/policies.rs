//! Workspace policies (*Settings → Policies*): only owners set them, a refused form keeps what
//! was typed, each change is audited before → after, and every entry point that makes a key
//! meets the same rules: the create form (which offers only what the policy allows, and says
//! why beside the field) and the key operation called directly, as a script or an API would.

use chrono::{Days, Utc};
use keyward::audit::Actor;
use keyward::keys::policy::{FullAccessBy, Policy};
use keyward::keys::{Expiry, KeyDescription, KeyError, KeyName, NewKeyRequest, PermissionSet};
use scraper::Html;

use crate::both_backends;
use crate::helpers::client::input_value;
use crate::helpers::db;
use crate::helpers::pages::{reveal_id, select, text_of};
use crate::helpers::{Backend, OWNER_EMAIL, OWNER_PASSWORD, TestApp, assert_is_redirect_to, spawn_app};

both_backends! {
    only_owners_see_and_change_the_policies,
    a_refused_policy_form_keeps_what_was_typed_beside_each_field,
    a_saved_policy_is_audited_before_and_after_and_asks_for_a_fresh_proof,
    a_30_day_policy_refuses_a_90_day_key_through_the_form_beside_the_field,
    a_30_day_policy_refuses_longer_keys_through_the_key_operation_too,
    requiring_an_expiration_refuses_keys_that_never_expire,
    owners_only_full_access_refuses_an_admin_but_not_the_owner,
    editing_and_regenerating_keep_to_the_policy,
}

const PATH: &str = "/settings/policies";

fn text_at(html: &str, css: &str) -> Option<String> {
    let doc = Html::parse_document(html);
    select(&doc, css).first().map(text_of)
}

fn policy_form<'a>(max: &'a str, custom: &'a str, unused: &'a str, by: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("max_lifetime", max),
        ("max_lifetime_days", custom),
        ("unused_revoke_days", unused),
        ("full_access_by", by),
    ]
}

async fn owner_app(backend: Backend) -> TestApp {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    app
}

/// The owner's actor, as any entry point other than the console would build it.
async fn actor_of(app: &TestApp, email: &str) -> Actor {
    Actor { user_id: Some(db::user_id(app, email).await), label: email.to_owned(), ..Actor::default() }
}

fn request(name: &str, permissions: PermissionSet, expiry: Expiry) -> NewKeyRequest {
    NewKeyRequest {
        name: KeyName::parse(name).unwrap(),
        description: KeyDescription::parse("").unwrap(),
        permissions,
        expiry,
        rate_limit: None,
        burst: None,
        environment: keyward::keys::Environment::Live,
        allowed_ips: None,
    }
}

async fn only_owners_see_and_change_the_policies(backend: Backend) {
    let app = owner_app(backend).await;
    let html = app.client().get_text(PATH).await;
    assert!(html.contains("<h1>Policies</h1>"), "{html}");
    assert!(html.contains("href=\"/settings/policies\" aria-current=\"page\""), "linked in the navigation");
    let ada = app.add_member("ada@example.com", "admin").await;
    assert_eq!(ada.get(PATH).await.status(), 403);
    let keys = ada.get_text("/settings/api-keys").await;
    assert!(!keys.contains("href=\"/settings/policies\""), "not offered to admins");
    let res = ada.post_form("/settings/api-keys", PATH, &policy_form("30", "", "", "owners")).await;
    assert_eq!(res.status(), 403);
    let ws = db::first_workspace(&app).await;
    assert_eq!(db::policy_of(&app, ws).await, Policy::default(), "nothing changed");
}

async fn a_refused_policy_form_keeps_what_was_typed_beside_each_field(backend: Backend) {
    let app = owner_app(backend).await;
    let res = app.client().post_form(PATH, PATH, &policy_form("custom", "400", "5", "owners")).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    let lifetime = text_at(&html, "#max_lifetime-error").expect("an error beside the maximum");
    assert!(lifetime.contains("from 1 to 365"), "{lifetime}");
    let unused = text_at(&html, "#unused_revoke_days-error").expect("an error beside the unused days");
    assert!(unused.contains("from 8 to 3650") && unused.contains("7 days before"), "{unused}");
    assert_eq!(input_value(&html, "max_lifetime_days").as_deref(), Some("400"));
    assert_eq!(input_value(&html, "unused_revoke_days").as_deref(), Some("5"));
    assert!(html.contains("<option value=\"custom\" selected>"), "the choice is kept");
    assert!(html.contains("value=\"owners\" checked"), "the radio is kept");
    let ws = db::first_workspace(&app).await;
    assert_eq!(db::policy_of(&app, ws).await, Policy::default(), "nothing changed");
}

async fn a_saved_policy_is_audited_before_and_after_and_asks_for_a_fresh_proof(backend: Backend) {
    let app = owner_app(backend).await;
    let ws = db::first_workspace(&app).await;
    let web = app.client();
    let mut form = policy_form("30", "", "90", "owners");
    form.push(("expiry_required", "on"));
    assert_is_redirect_to(&web.post_form(PATH, PATH, &form).await, PATH);
    let want = Policy {
        max_lifetime_days: Some(30),
        expiry_required: true,
        unused_revoke_days: Some(90),
        full_access_by: FullAccessBy::Owners,
        ..Policy::default()
    };
    assert_eq!(db::policy_of(&app, ws).await, want);
    let html = web.get_text(PATH).await;
    assert!(html.contains("are saved") && html.contains("<option value=\"30\" selected>"), "{html}");
    let audit = db::audit_rows(&app).await;
    let (actor, _, _, details) = audit.iter().find(|(_, a, _, _)| a == "policy.changed").unwrap();
    assert_eq!(actor, OWNER_EMAIL);
    assert_eq!(
        details,
        "Maximum key lifetime: none \u{2192} 30 days; Expiration required: no \u{2192} yes; Revoke keys unused \
         for: off \u{2192} 90 days; Full-access keys by: owners and admins \u{2192} owners only"
    );
    // The same again changes nothing and records nothing.
    assert_is_redirect_to(&web.post_form(PATH, PATH, &form).await, PATH);
    assert!(web.get_text(PATH).await.contains("Nothing changed."));
    // Once the last proof is old, a change asks for the password, keeping the form.
    db::age_confirmation(&app, OWNER_EMAIL, 11).await;
    let loosen = policy_form("custom", "45", "", "admins");
    let res = web.post_form(PATH, PATH, &loosen).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(text_at(&html, "#confirm_identity-error").is_some(), "{html}");
    assert_eq!(input_value(&html, "max_lifetime_days").as_deref(), Some("45"));
    assert_eq!(db::policy_of(&app, ws).await, want, "nothing changed yet");
    let mut confirmed = loosen.clone();
    confirmed.push(("confirm_identity", OWNER_PASSWORD));
    assert_is_redirect_to(&web.post_form(PATH, PATH, &confirmed).await, PATH);
    assert_eq!(db::policy_of(&app, ws).await, Policy { max_lifetime_days: Some(45), ..Policy::default() });
    let changes = db::audit_rows(&app).await.into_iter().filter(|(_, a, _, _)| a == "policy.changed").count();
    assert_eq!(changes, 2);
    let log = web.get_text("/settings/audit-log").await;
    assert!(log.contains("Policies changed"), "the log has words for it");
}

async fn a_30_day_policy_refuses_a_90_day_key_through_the_form_beside_the_field(backend: Backend) {
    let app = owner_app(backend).await;
    let web = app.client();
    assert_is_redirect_to(&web.post_form(PATH, PATH, &policy_form("30", "", "", "admins")).await, PATH);
    // The form offers only what the policy allows, and says so.
    let html = web.get_text("/settings/api-keys/new").await;
    for gone in ["value=\"60\"", "value=\"90\"", "value=\"180\"", "value=\"never\""] {
        assert!(!html.contains(&format!("<option {gone}")), "{gone} is still offered");
    }
    for kept in ["value=\"7\"", "value=\"30\"", "value=\"custom\""] {
        assert!(html.contains(&format!("<option {kept}")), "{kept} is not offered");
    }
    let latest = (Utc::now().date_naive() + Days::new(30)).to_string();
    assert!(html.contains(&format!("max=\"{latest}\"")), "the date picker stops at the policy's end");
    assert!(html.contains("policy: keys expire within 30 days"), "a hint says why");

    let message = "This workspace\u{2019}s policy allows keys to live at most 30 days.";
    let beyond = (Utc::now().date_naive() + Days::new(40)).to_string();
    for (expiry, date) in [("90", ""), ("custom", beyond.as_str()), ("never", "")] {
        let form =
            [("name", "Billing"), ("permissions", "records:read"), ("expiry", expiry), ("expiry_date", date)];
        let res = web.post_form("/settings/api-keys/new", "/settings/api-keys", &form).await;
        assert_eq!(res.status(), 422, "{expiry} {date}");
        let html = res.text().await.unwrap();
        let beside =
            text_at(&html, "#expiry-error").unwrap_or_else(|| panic!("no message beside the field: {html}"));
        assert!(beside.starts_with(message), "{beside}");
        assert_eq!(input_value(&html, "name").as_deref(), Some("Billing"), "the input is kept");
    }
    assert!(!web.get_text("/settings/api-keys").await.contains("Billing"), "no key was made");
    let within = (Utc::now().date_naive() + Days::new(30)).to_string();
    let form = [
        ("name", "Billing"),
        ("permissions", "records:read"),
        ("expiry", "custom"),
        ("expiry_date", &within),
    ];
    assert_eq!(web.post_form("/settings/api-keys/new", "/settings/api-keys", &form).await.status(), 303);
    web.create_key("Billing 30", &["records:read"], "30").await;
}

async fn a_30_day_policy_refuses_longer_keys_through_the_key_operation_too(backend: Backend) {
    let app = owner_app(backend).await;
    let ws = db::first_workspace(&app).await;
    db::set_policy(&app, ws, Policy { max_lifetime_days: Some(30), ..Policy::default() }).await;
    let actor = actor_of(&app, OWNER_EMAIL).await;
    let read = || PermissionSet::from_stored("records:read");
    let too_far = Utc::now().date_naive() + Days::new(31);
    for expiry in [Expiry::Days(90), Expiry::Until(too_far), Expiry::Never] {
        let err = keyward::keys::ops::create(&app.state.db, &actor, ws, request("Script", read(), expiry))
            .await
            .err()
            .unwrap_or_else(|| panic!("{expiry:?} was allowed"));
        assert!(matches!(err, KeyError::Policy(_)), "{err:?}");
        assert_eq!(err.code(), "policy_max_lifetime");
        assert!(err.to_string().contains("at most 30 days"), "{err}");
    }
    let made =
        keyward::keys::ops::create(&app.state.db, &actor, ws, request("Script", read(), Expiry::Days(30)))
            .await;
    assert!(made.is_ok(), "30 days is within the policy");
}

async fn requiring_an_expiration_refuses_keys_that_never_expire(backend: Backend) {
    let app = owner_app(backend).await;
    let ws = db::first_workspace(&app).await;
    db::set_policy(&app, ws, Policy { expiry_required: true, ..Policy::default() }).await;
    let web = app.client();
    let html = web.get_text("/settings/api-keys/new").await;
    assert!(!html.contains("<option value=\"never\""), "no expiration is not offered");
    assert!(html.contains("<option value=\"180\""), "every preset still is");
    let form = [("name", "Forever"), ("permissions", "records:read"), ("expiry", "never")];
    let res = web.post_form("/settings/api-keys/new", "/settings/api-keys", &form).await;
    assert_eq!(res.status(), 422);
    let beside = text_at(&res.text().await.unwrap(), "#expiry-error").unwrap();
    assert!(beside.contains("requires every key to have an expiration date"), "{beside}");
    let actor = actor_of(&app, OWNER_EMAIL).await;
    let read = PermissionSet::from_stored("records:read");
    let err = keyward::keys::ops::create(&app.state.db, &actor, ws, request("Forever", read, Expiry::Never))
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), "policy_expiry_required");
    web.create_key("For half a year", &["records:read"], "180").await;
}

async fn owners_only_full_access_refuses_an_admin_but_not_the_owner(backend: Backend) {
    let app = owner_app(backend).await;
    let ws = db::first_workspace(&app).await;
    let ada = app.add_member("ada@example.com", "admin").await;
    db::set_policy(&app, ws, Policy { full_access_by: FullAccessBy::Owners, ..Policy::default() }).await;
    // The admin's form offers no full access and says why.
    let html = ada.get_text("/settings/api-keys/new").await;
    assert!(!html.contains("name=\"full_access\""), "full access is not offered to admins");
    assert!(html.contains("policy lets only owners give a key full access"), "{html}");
    // Sent anyway, it is refused beside the permissions.
    let form = [("name", "Everything"), ("full_access", "on"), ("expiry", "30")];
    let res = ada.post_form("/settings/api-keys/new", "/settings/api-keys", &form).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    let beside = text_at(&html, "#permissions-error").unwrap_or_else(|| panic!("{html}"));
    assert!(beside.contains("lets only owners give a key full access"), "{beside}");
    assert_eq!(input_value(&html, "name").as_deref(), Some("Everything"));
    // And through the key operation.
    let admin = actor_of(&app, "ada@example.com").await;
    let err = keyward::keys::ops::create(
        &app.state.db,
        &admin,
        ws,
        request("Everything", PermissionSet::Full, Expiry::Days(30)),
    )
    .await
    .err()
    .unwrap();
    assert_eq!(err.code(), "policy_full_access_owners_only");
    // The admin still makes keys with chosen permissions; the owner makes full-access ones.
    ada.create_key("Reader", &["records:read"], "30").await;
    let html = app.client().get_text("/settings/api-keys/new").await;
    assert!(html.contains("name=\"full_access\""), "offered to owners");
    let res = app.client().post_form("/settings/api-keys/new", "/settings/api-keys", &form).await;
    assert_eq!(res.status(), 303, "the owner may");
    let owner = actor_of(&app, OWNER_EMAIL).await;
    let made = keyward::keys::ops::create(
        &app.state.db,
        &owner,
        ws,
        request("All", PermissionSet::Full, Expiry::Days(30)),
    )
    .await;
    assert!(made.is_ok());
}

async fn editing_and_regenerating_keep_to_the_policy(backend: Backend) {
    let app = owner_app(backend).await;
    let ws = db::first_workspace(&app).await;
    let ada = app.add_member("ada@example.com", "admin").await;
    let reader = ada.create_key("Reader", &["records:read"], "90").await.id;
    let full = [("name", "Everything"), ("full_access", "on"), ("expiry", "never")];
    let everything =
        reveal_id(&app.client().post_form("/settings/api-keys/new", "/settings/api-keys", &full).await);
    db::set_policy(
        &app,
        ws,
        Policy { max_lifetime_days: Some(30), full_access_by: FullAccessBy::Owners, ..Policy::default() },
    )
    .await;
    // An admin may not widen a key to full access through the edit form either.
    let edit = format!("/settings/api-keys/{reader}/edit");
    let html = ada.get_text(&edit).await;
    assert!(!html.contains("name=\"full_access\""), "not offered on the edit form");
    let form = [("name", "Reader"), ("full_access", "on")];
    let res = ada.post_form(&edit, &edit, &form).await;
    assert_eq!(res.status(), 422);
    let beside = text_at(&res.text().await.unwrap(), "#permissions-error").unwrap();
    assert!(beside.contains("lets only owners give a key full access"), "{beside}");
    let admin = actor_of(&app, "ada@example.com").await;
    let changes = keyward::keys::KeyChanges {
        name: KeyName::parse("Reader").unwrap(),
        description: KeyDescription::parse("").unwrap(),
        permissions: PermissionSet::Full,
        rate_limit: None,
        burst: None,
        allowed_ips: None,
    };
    let err = keyward::keys::ops::edit(&app.state.db, &admin, ws, reader, changes.clone()).await.unwrap_err();
    assert_eq!(err.code(), "policy_full_access_owners_only");
    let owner = actor_of(&app, OWNER_EMAIL).await;
    assert!(keyward::keys::ops::edit(&app.state.db, &owner, ws, reader, changes).await.unwrap());
    // The admin keeps editing a key that already has full access: no widening.
    let edit_all = format!("/settings/api-keys/{everything}/edit");
    let html = ada.get_text(&edit_all).await;
    assert!(html.contains("name=\"full_access\" value=\"on\" checked"), "kept on a full-access key");
    // A key made for 90 days before the policy is regenerated for 30 at most, and says why.
    let page = app.client().get_text(&format!("/settings/api-keys/{reader}/regenerate")).await;
    assert!(page.contains("asks for more than this workspace"), "{page}");
    app.client().regenerate(reader).await;
    let details = db::audit_details(&app, reader, "key.regenerated").await.unwrap();
    let limit = (Utc::now() + chrono::TimeDelta::days(30)).naive_utc();
    let new_expiry = details.split("new expiry: ").nth(1).unwrap();
    let new_expiry = chrono::NaiveDateTime::parse_from_str(&new_expiry[..19], "%Y-%m-%d %H:%M:%S").unwrap();
    assert!(new_expiry <= limit && new_expiry > limit - chrono::TimeDelta::minutes(1), "{details}");
    assert!(details.contains("shortened by the workspace"), "{details}");
    // A never-expiring key regenerated under the policy gets 30 days too.
    app.client().regenerate(everything).await;
    let details = db::audit_details(&app, everything, "key.regenerated").await.unwrap();
    assert!(!details.contains("new expiry: never") && details.contains("shortened"), "{details}");
}
