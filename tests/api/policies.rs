//! Workspace policies (*Settings → Policies*): only owners set them, a refused form keeps what
//! was typed, each change is audited before → after, and every entry point that makes a key
//! meets the same rules: the create form (which offers only what the policy allows, and says
//! why beside the field) and the key operation called directly, as a script or an API would.

use keyward::keys::policy::{FullAccessBy, Policy};
use scraper::Html;

use crate::both_backends;
use crate::helpers::client::input_value;
use crate::helpers::db;
use crate::helpers::pages::{select, text_of};
use crate::helpers::{Backend, OWNER_EMAIL, OWNER_PASSWORD, TestApp, assert_is_redirect_to, spawn_app};

both_backends! {
    only_owners_see_and_change_the_policies,
    a_refused_policy_form_keeps_what_was_typed_beside_each_field,
    a_saved_policy_is_audited_before_and_after_and_asks_for_a_fresh_proof,
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
