//! Re-authentication ("sudo mode"): once the session's last proof of identity is over ten
//! minutes old, the changes that hand out or take away the most power ask for the password
//! or an authentication code again, keeping everything else the user typed.

use crate::both_backends;
use crate::helpers::client::input_value as input_value_of;
use crate::helpers::{Backend, OWNER_EMAIL, OWNER_PASSWORD, assert_is_redirect_to, db, spawn_app};
use crate::two_factor::enrol;

both_backends! {
    a_full_access_key_asks_for_confirmation_when_the_sign_in_is_old,
    a_key_without_expiry_goes_through_with_an_authentication_code,
    a_restricted_expiring_key_needs_no_confirmation,
    changing_a_role_asks_for_confirmation_and_keeps_the_chosen_role,
    removing_a_member_asks_for_confirmation,
    a_fresh_sign_in_needs_no_confirmation,
}

const CONFIRM_FIELD: &str = "id=\"confirm_identity\"";

fn is_reveal(res: &reqwest::Response) -> bool {
    res.status() == 303
        && res
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|l| l.starts_with("/settings/api-keys/") && l.ends_with("/reveal"))
}

async fn a_full_access_key_asks_for_confirmation_when_the_sign_in_is_old(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    db::age_confirmation(&app, OWNER_EMAIL, 11).await;
    let web = app.client();
    assert!(web.get_text("/settings/api-keys/new").await.contains(CONFIRM_FIELD));
    let form =
        [("name", "Admin bot"), ("full_access", "on"), ("expiry", "30"), ("rate_limit_per_minute", "120")];

    let res = web.post_form("/settings/api-keys/new", "/settings/api-keys", &form).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("Confirm it\u{2019}s you to make this change"), "{html}");
    assert!(html.contains(CONFIRM_FIELD));
    assert_eq!(input_value_of(&html, "name").as_deref(), Some("Admin bot"), "the name is kept");
    assert_eq!(input_value_of(&html, "rate_limit_per_minute").as_deref(), Some("120"));
    assert!(
        html.contains("id=\"full_access\" name=\"full_access\" value=\"on\" checked"),
        "full access kept"
    );

    let mut wrong = form.to_vec();
    wrong.push(("confirm_identity", "not my password at all"));
    let res = web.post_form("/settings/api-keys/new", "/settings/api-keys", &wrong).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("That is not your password"), "{html}");
    assert!(!html.contains("not my password at all"), "what was typed is never shown back");
    assert!(!web.get_text("/settings/api-keys").await.contains("Admin bot"), "no key was made");

    let mut right = form.to_vec();
    right.push(("confirm_identity", OWNER_PASSWORD));
    let res = web.post_form("/settings/api-keys/new", "/settings/api-keys", &right).await;
    assert!(is_reveal(&res), "{:?}", res.status());
    // Confirmed now: the next guarded change goes through without asking.
    let res = web
        .post_form(
            "/settings/api-keys/new",
            "/settings/api-keys",
            &[("name", "Second admin bot"), ("full_access", "on"), ("expiry", "never")],
        )
        .await;
    assert!(is_reveal(&res), "{:?}", res.status());
}

async fn a_key_without_expiry_goes_through_with_an_authentication_code(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let (authenticator, _) = enrol(app.client()).await;
    db::age_confirmation(&app, OWNER_EMAIL, 11).await;
    let web = app.client();
    let form = [("name", "Forever"), ("permissions", "records:read"), ("expiry", "never")];
    let res = web.post_form("/settings/api-keys/new", "/settings/api-keys", &form).await;
    assert_eq!(res.status(), 422);

    let code = authenticator.code(0);
    let mut with_code = form.to_vec();
    with_code.push(("confirm_identity", &code));
    let res = web.post_form("/settings/api-keys/new", "/settings/api-keys", &with_code).await;
    assert!(is_reveal(&res), "{:?}", res.status());

    // The same code cannot confirm twice.
    db::age_confirmation(&app, OWNER_EMAIL, 11).await;
    let mut again = vec![("name", "Forever 2"), ("permissions", "records:read"), ("expiry", "never")];
    again.push(("confirm_identity", &code));
    let res = web.post_form("/settings/api-keys/new", "/settings/api-keys", &again).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("already used"));
}

async fn a_restricted_expiring_key_needs_no_confirmation(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    db::age_confirmation(&app, OWNER_EMAIL, 11).await;
    let web = app.client();
    let res = web
        .post_form(
            "/settings/api-keys/new",
            "/settings/api-keys",
            &[("name", "Reader"), ("permissions", "records:read"), ("expiry", "30")],
        )
        .await;
    assert!(is_reveal(&res), "{:?}", res.status());
}

async fn changing_a_role_asks_for_confirmation_and_keeps_the_chosen_role(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    app.add_member("viewer@example.com", "viewer").await;
    let ws = db::first_workspace(&app).await;
    let id = db::user_id(&app, "viewer@example.com").await;
    db::age_confirmation(&app, OWNER_EMAIL, 11).await;
    let web = app.client();
    let page = format!("/settings/members/{id}/role");
    assert!(web.get_text(&page).await.contains(CONFIRM_FIELD), "the confirmation page asks at once");

    let res = web.post_form(&page, &page, &[("role", "admin")]).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"new-role-admin\" name=\"role\" value=\"admin\" checked"), "{html}");
    assert!(html.contains("Confirm it\u{2019}s you to make this change"));
    let res =
        web.post_form(&page, &page, &[("role", "admin"), ("confirm_identity", "wrong password here")]).await;
    assert_eq!(res.status(), 422);
    assert_eq!(db::role_of(&app, "viewer@example.com", ws).await.as_deref(), Some("viewer"));

    let res = web.post_form(&page, &page, &[("role", "admin"), ("confirm_identity", OWNER_PASSWORD)]).await;
    assert_is_redirect_to(&res, "/settings/members");
    assert_eq!(db::role_of(&app, "viewer@example.com", ws).await.as_deref(), Some("admin"));
}

async fn removing_a_member_asks_for_confirmation(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    app.add_member("viewer@example.com", "viewer").await;
    let ws = db::first_workspace(&app).await;
    let id = db::user_id(&app, "viewer@example.com").await;
    db::age_confirmation(&app, OWNER_EMAIL, 11).await;
    let web = app.client();
    let page = format!("/settings/members/{id}/remove");
    assert!(web.get_text(&page).await.contains(CONFIRM_FIELD));

    let res = web.post_form(&page, &page, &[]).await;
    assert_eq!(res.status(), 422);
    let res = web.post_form(&page, &page, &[("confirm_identity", "wrong password here")]).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("That is not your password"));
    assert!(db::role_of(&app, "viewer@example.com", ws).await.is_some());

    let res = web.post_form(&page, &page, &[("confirm_identity", OWNER_PASSWORD)]).await;
    assert_is_redirect_to(&res, "/settings/members");
    assert!(db::role_of(&app, "viewer@example.com", ws).await.is_none());
}

async fn a_fresh_sign_in_needs_no_confirmation(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    app.add_member("viewer@example.com", "viewer").await;
    let id = db::user_id(&app, "viewer@example.com").await;
    db::age_confirmation(&app, OWNER_EMAIL, 9).await;
    let web = app.client();
    let page = format!("/settings/members/{id}/role");
    assert!(!web.get_text(&page).await.contains(CONFIRM_FIELD));
    assert_is_redirect_to(&web.post_form(&page, &page, &[("role", "admin")]).await, "/settings/members");
    let res = web
        .post_form(
            "/settings/api-keys/new",
            "/settings/api-keys",
            &[("name", "Admin bot"), ("full_access", "on"), ("expiry", "never")],
        )
        .await;
    assert!(is_reveal(&res), "{:?}", res.status());
}
