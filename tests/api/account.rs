//! *Your account*: changing one's password, the sessions page, and password resets (an
//! owner's link for a member, and `keyward admin reset-password` for the operator).

use chrono::{TimeDelta, Utc};
use diesel::prelude::*;
use keyward::accounts::Role;
use keyward::db::DbError;
use keyward::db::schema::{password_resets, user_sessions, users};
use reqwest::header::{HeaderMap, HeaderValue, USER_AGENT};

use crate::both_backends;
use crate::helpers::app::{MEMBER_PASSWORD, OWNER_EMAIL, OWNER_PASSWORD};
use crate::helpers::client::input_value;
use crate::helpers::db::{audit_actions, first_workspace, insert_member, second_workspace, user_id};
use crate::helpers::pages::{no_store, select, text_of};
use crate::helpers::{Backend, Client, TestApp, assert_is_redirect_to, keyward_command, spawn_app, url_arg};

both_backends! {
    changing_the_password_needs_the_current_one_and_signs_out_every_other_session,
    a_new_password_is_neither_common_nor_the_email,
    the_sessions_page_lists_sessions_and_signs_out_one_or_all_others,
    an_owner_resets_a_members_password_with_a_single_use_link,
    an_owner_cannot_reset_a_password_that_opens_workspaces_they_do_not_own,
    the_operator_resets_a_password_and_can_remove_two_factor,
    a_reset_link_is_emailed_to_the_member_when_smtp_is_configured,
    making_a_reset_link_asks_for_the_password_when_the_sign_in_is_old,
}

async fn owner_app(backend: Backend) -> TestApp {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    app
}

/// A browser announcing itself as `ua`, signed in as `email`.
async fn browser(app: &TestApp, ua: &'static str, email: &str, password: &str) -> Client {
    let mut headers = HeaderMap::new();
    headers.insert(USER_AGENT, HeaderValue::from_static(ua));
    let client = Client::with_default_headers(&app.address, headers);
    assert_eq!(client.sign_in(email, password).await.status(), 303, "sign-in as {email}");
    client
}

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const SAFARI: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) \
                      Version/18.1 Safari/605.1.15";

/// Whether the browser is still signed in: the key table answers 200, or the sign-in page.
async fn signed_in(client: &Client) -> bool {
    let res = client.get("/settings/api-keys").await;
    match res.status().as_u16() {
        200 => true,
        303 => false,
        other => panic!("unexpected status {other}"),
    }
}

async fn change_password(client: &Client, current: &str, new: &str, confirm: &str) -> reqwest::Response {
    client
        .post_form(
            "/settings/account",
            "/settings/account/password",
            &[("current_password", current), ("new_password", new), ("new_password_confirm", confirm)],
        )
        .await
}

async fn changing_the_password_needs_the_current_one_and_signs_out_every_other_session(backend: Backend) {
    let app = owner_app(backend).await;
    let here = browser(&app, FIREFOX, OWNER_EMAIL, OWNER_PASSWORD).await;
    let elsewhere = browser(&app, SAFARI, OWNER_EMAIL, OWNER_PASSWORD).await;

    let page = here.get_text("/settings/account").await;
    assert!(page.contains("Change your password") && page.contains("Two-factor sign-in"), "{page}");

    let new = "a brand new passphrase";
    let wrong = change_password(&here, "not my password at all", new, new).await;
    assert_eq!(wrong.status(), 422);
    let html = wrong.text().await.unwrap();
    assert!(html.contains("That is not your current password"), "{html}");
    assert!(signed_in(&elsewhere).await, "a refused change signs nobody out");

    let mismatch = change_password(&here, OWNER_PASSWORD, new, "a brand new passphrasf").await;
    assert_eq!(mismatch.status(), 422);
    assert!(mismatch.text().await.unwrap().contains("do not match"));

    let res = change_password(&here, OWNER_PASSWORD, new, new).await;
    assert_is_redirect_to(&res, "/settings/account");
    let page = here.get_text("/settings/account").await;
    assert!(page.contains("Your password was changed. 2 other sessions were signed out"), "{page}");

    assert!(signed_in(&here).await, "the browser that changed it stays signed in");
    assert!(!signed_in(&elsewhere).await, "every other session ends");
    assert!(!signed_in(app.client()).await, "the setup session ends too");

    let fresh = app.new_client();
    assert_eq!(fresh.sign_in(OWNER_EMAIL, OWNER_PASSWORD).await.status(), 401, "the old password is gone");
    assert_eq!(fresh.sign_in(OWNER_EMAIL, new).await.status(), 303);

    let audit = audit_actions(&app).await;
    let (_, details) = audit.iter().find(|(a, _)| a == "user.password_changed").expect("audited");
    assert!(details.contains("2 other sessions were signed out"), "{details}");
    assert!(!details.contains(new), "{details}");
}

async fn a_new_password_is_neither_common_nor_the_email(backend: Backend) {
    let app = owner_app(backend).await;
    let client = app.client();
    for (new, message) in [
        ("123qweasdzxc", "one of the most common passwords"),
        ("LeaveMeAlone", "one of the most common passwords"),
        (OWNER_EMAIL, "cannot be your email address"),
        ("short", "at least 12 characters"),
        (OWNER_PASSWORD, "the one you have now"),
    ] {
        let res = change_password(client, OWNER_PASSWORD, new, new).await;
        assert_eq!(res.status(), 422, "{new}");
        let html = res.text().await.unwrap();
        assert!(html.contains(message), "{new}: {html}");
        assert!(html.contains(r#"id="new_password-error""#), "the message sits beside the field");
    }
    // Nothing changed: the password still signs in.
    assert_eq!(app.new_client().sign_in(OWNER_EMAIL, OWNER_PASSWORD).await.status(), 303);
}

async fn the_sessions_page_lists_sessions_and_signs_out_one_or_all_others(backend: Backend) {
    let app = owner_app(backend).await;
    let here = browser(&app, FIREFOX, OWNER_EMAIL, OWNER_PASSWORD).await;
    let safari = browser(&app, SAFARI, OWNER_EMAIL, OWNER_PASSWORD).await;
    // Another user's session must stay out of the list and out of reach.
    let ws = first_workspace(&app).await;
    insert_member(&app, "dev@example.com", ws, Role::Viewer).await;
    let other_user = browser(&app, SAFARI, "dev@example.com", MEMBER_PASSWORD).await;

    let html = here.get_text("/settings/account/sessions").await;
    let doc = scraper::Html::parse_document(&html);
    let rows = select(&doc, "tbody tr");
    assert_eq!(rows.len(), 3, "setup's browser, Firefox and Safari: {html}");
    let current: Vec<String> = select(&doc, "tr.current-session").iter().map(text_of).collect();
    assert_eq!(current.len(), 1);
    assert!(current[0].contains("Firefox on Linux") && current[0].contains("This browser"), "{current:?}");
    assert!(html.contains("Safari on macOS"), "{html}");
    assert!(html.contains("127.0.0.1"), "the address is shown: {html}");

    // Signing out another user's session by its id changes nothing.
    let theirs = stored_sessions(&app, "dev@example.com").await;
    let res = here
        .post_form("/settings/account/sessions", "/settings/account/sessions/end", &[("session", &theirs[0])])
        .await;
    assert_is_redirect_to(&res, "/settings/account/sessions");
    assert!(signed_in(&other_user).await);

    // One: the Safari session.
    let safari_key = select(&doc, "tr[data-session]")
        .iter()
        .find(|r| text_of(r).contains("Safari"))
        .and_then(|r| r.value().attr("data-session").map(str::to_owned))
        .unwrap();
    let res = here
        .post_form(
            "/settings/account/sessions",
            "/settings/account/sessions/end",
            &[("session", &safari_key)],
        )
        .await;
    assert_is_redirect_to(&res, "/settings/account/sessions");
    assert!(!signed_in(&safari).await, "the chosen session ends at once");
    assert!(signed_in(&here).await && signed_in(app.client()).await);

    // All others: only this browser is left.
    let res =
        here.post_form("/settings/account/sessions", "/settings/account/sessions/end-others", &[]).await;
    assert_is_redirect_to(&res, "/settings/account/sessions");
    assert!(!signed_in(app.client()).await);
    assert!(signed_in(&here).await);
    assert!(signed_in(&other_user).await, "another user's sessions are theirs");
    let html = here.get_text("/settings/account/sessions").await;
    assert!(html.contains("Only this browser is signed in"), "{html}");

    let revoked = audit_actions(&app).await.into_iter().filter(|(a, _)| a == "session.revoked").count();
    assert_eq!(revoked, 2);
}

/// The stored ids (hashes) of a user's sessions.
async fn stored_sessions(app: &TestApp, email: &str) -> Vec<String> {
    let id = user_id(app, email).await;
    app.state
        .db
        .run(move |conn| -> Result<Vec<String>, DbError> {
            Ok(user_sessions::table
                .filter(user_sessions::user_id.eq(id))
                .select(user_sessions::id)
                .load(conn)?)
        })
        .await
        .unwrap()
}

/// Makes a reset link for `email` as the app's client (an owner) and returns it.
async fn reset_link(app: &TestApp, member_id: i64) -> String {
    let page = format!("/settings/members/{member_id}/reset-password");
    let form = app.client().get_text(&page).await;
    assert!(form.contains("Make reset link"), "{form}");
    let res = app.client().post_form(&page, &page, &[]).await;
    assert_eq!(res.status(), 200);
    assert!(no_store(&res), "the link is shown once and never cached");
    let html = res.text().await.unwrap();
    let link = input_value(&html, "reset-link").expect("the link is on the page");
    assert!(link.starts_with(&app.address) && link.contains("/password-reset/"), "{link}");
    link
}

async fn an_owner_resets_a_members_password_with_a_single_use_link(backend: Backend) {
    let app = owner_app(backend).await;
    let ws = first_workspace(&app).await;
    let member_id = insert_member(&app, "dev@example.com", ws, Role::Admin).await;
    let member = app.sign_in_as("dev@example.com").await;

    let link = reset_link(&app, member_id).await;
    let path = link.strip_prefix(&app.address).unwrap().to_owned();
    assert!(signed_in(&member).await, "the link changes nothing until it is used");
    assert_eq!(app.new_client().sign_in("dev@example.com", MEMBER_PASSWORD).await.status(), 303);

    let holder = app.new_client();
    let form = holder.get_text(&path).await;
    assert!(form.contains("Choose a new password") && form.contains("dev@example.com"), "{form}");
    let common = holder
        .post_form(&path, &path, &[("password", "123qweasdzxc"), ("password_confirm", "123qweasdzxc")])
        .await;
    assert_eq!(common.status(), 422);
    assert!(common.text().await.unwrap().contains("most common passwords"));

    let new = "the member's own new passphrase";
    let res = holder.post_form(&path, &path, &[("password", new), ("password_confirm", new)]).await;
    assert_is_redirect_to(&res, "/login");
    assert!(!signed_in(&member).await, "using the link signs out every session of the account");
    assert_eq!(app.new_client().sign_in("dev@example.com", MEMBER_PASSWORD).await.status(), 401);
    assert_eq!(app.new_client().sign_in("dev@example.com", new).await.status(), 303);

    // Used once: the link is spent, and a second use changes nothing.
    let again = holder.get(&path).await;
    assert_eq!(again.status(), 410);
    assert!(again.text().await.unwrap().contains("already used"));
    let other = "yet another passphrase here";
    let res = app
        .new_client()
        .post_form("/login", &path, &[("password", other), ("password_confirm", other)])
        .await;
    assert_eq!(res.status(), 410, "a second use sets nothing");
    assert_eq!(app.new_client().sign_in("dev@example.com", new).await.status(), 303);

    // A newer link replaces an older one; an expired link and an unknown one set nothing.
    let first = reset_link(&app, member_id).await;
    let second = reset_link(&app, member_id).await;
    let first = first.strip_prefix(&app.address).unwrap().to_owned();
    assert_eq!(app.new_client().get(&first).await.status(), 410);
    app.state
        .db
        .write(|conn| -> Result<usize, DbError> {
            Ok(diesel::update(password_resets::table)
                .set(password_resets::expires_at.eq(Utc::now().naive_utc() - TimeDelta::minutes(1)))
                .execute(conn)?)
        })
        .await
        .unwrap();
    let second = second.strip_prefix(&app.address).unwrap().to_owned();
    let expired = app.new_client().get(&second).await;
    assert_eq!(expired.status(), 410);
    assert!(expired.text().await.unwrap().contains("expired"));
    assert_eq!(app.new_client().get("/password-reset/not-a-token").await.status(), 404);
    assert_eq!(app.new_client().sign_in("dev@example.com", new).await.status(), 303);

    let audit = audit_actions(&app).await;
    assert_eq!(audit.iter().filter(|(a, _)| a == "user.password_reset_started").count(), 3);
    assert_eq!(audit.iter().filter(|(a, _)| a == "user.password_reset").count(), 1);
    // Tokens live only as hashes.
    let stored: Vec<String> = app
        .state
        .db
        .run(|conn| -> Result<_, DbError> {
            Ok(password_resets::table.select(password_resets::token_hash).load(conn)?)
        })
        .await
        .unwrap();
    let token = path.rsplit('/').next().unwrap();
    assert!(stored.iter().all(|h| h != token && h.len() == 64), "{stored:?}");
}

async fn an_owner_cannot_reset_a_password_that_opens_workspaces_they_do_not_own(backend: Backend) {
    let app = owner_app(backend).await;
    let ws = first_workspace(&app).await;
    // dev belongs to Acme (owned by the app's owner) and to Globex, owned by someone else.
    let dev = insert_member(&app, "dev@example.com", ws, Role::Viewer).await;
    let globex = second_workspace(&app, "globex-owner@example.com").await;
    app.state
        .db
        .write(move |conn| -> Result<(), DbError> {
            Ok(keyward::accounts::store::insert_membership(
                conn,
                dev,
                globex,
                Role::Admin,
                Utc::now().naive_utc(),
            )?)
        })
        .await
        .unwrap();

    let page = format!("/settings/members/{dev}/reset-password");
    let html = app.client().get_text(&page).await;
    assert!(html.contains("keyward admin reset-password --email dev@example.com"), "{html}");
    assert!(!html.contains("Make reset link"), "{html}");
    let res = app.client().post_form(&page, &page, &[]).await;
    assert_eq!(res.status(), 403);

    // Nor one's own password, which has its own form; nor someone outside the workspace.
    let me = user_id(&app, OWNER_EMAIL).await;
    let own = app.client().get_text(&format!("/settings/members/{me}/reset-password")).await;
    assert!(own.contains("change your password under Your account"), "{own}");
    let outsider = user_id(&app, "globex-owner@example.com").await;
    assert_eq!(app.client().get(&format!("/settings/members/{outsider}/reset-password")).await.status(), 404);

    // Viewers and admins cannot start resets at all.
    let viewer = app.sign_in_as("dev@example.com").await;
    assert_eq!(viewer.get(&format!("/settings/members/{me}/reset-password")).await.status(), 403);
    let count: i64 = app
        .state
        .db
        .run(|conn| -> Result<_, DbError> { Ok(password_resets::table.count().get_result(conn)?) })
        .await
        .unwrap();
    assert_eq!(count, 0);
}

async fn the_operator_resets_a_password_and_can_remove_two_factor(backend: Backend) {
    let app = owner_app(backend).await;
    let url = app.database_url.clone();
    // Two-factor as if enrolled (the operator's flag only clears it).
    app.state
        .db
        .write(|conn| -> Result<usize, DbError> {
            Ok(diesel::update(users::table)
                .set((
                    users::totp_secret.eq(Some("v1:sealed")),
                    users::totp_enabled_at.eq(Some(Utc::now().naive_utc())),
                ))
                .execute(conn)?)
        })
        .await
        .unwrap();
    let run = move |args: &[&str]| {
        keyward_command()
            .args(["admin", "reset-password"])
            .args(args)
            .env("KEYWARD_DATABASE_URL", url_arg(&url))
            .env("KEYWARD_PUBLIC_URL", "https://keys.example.com")
            .env("RUST_LOG", "warn")
            .output()
            .expect("run keyward")
    };
    let (unknown, ok) = tokio::task::spawn_blocking(move || {
        (
            run(&["--email", "nobody@example.com"]),
            run(&["--email", "Owner@Example.com", "--remove-two-factor"]),
        )
    })
    .await
    .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no account has the email"));
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let out = String::from_utf8(ok.stdout).unwrap();
    let link = out
        .split_whitespace()
        .find(|w| w.starts_with("https://keys.example.com/password-reset/"))
        .expect(&out);
    assert!(out.contains("Two-factor sign-in is off"), "{out}");
    let path = link.strip_prefix("https://keys.example.com").unwrap();

    let new = "the operator gave me this";
    let res = app.new_client().post_form(path, path, &[("password", new), ("password_confirm", new)]).await;
    assert_is_redirect_to(&res, "/login");
    assert_eq!(app.new_client().sign_in(OWNER_EMAIL, new).await.status(), 303);
    let (secret, enabled): (Option<String>, Option<chrono::NaiveDateTime>) = app
        .state
        .db
        .run(|conn| -> Result<_, DbError> {
            Ok(users::table.select((users::totp_secret, users::totp_enabled_at)).first(conn)?)
        })
        .await
        .unwrap();
    assert_eq!((secret, enabled), (None, None));
    let audit = audit_actions(&app).await;
    let actors: Vec<&str> = audit.iter().map(|(a, _)| a.as_str()).collect();
    assert!(
        actors.contains(&"user.password_reset_started") && actors.contains(&"user.two_factor_disabled"),
        "{actors:?}"
    );
}

async fn a_reset_link_is_emailed_to_the_member_when_smtp_is_configured(backend: Backend) {
    let Some(smtp) = crate::helpers::SmtpServer::start().await else { return };
    let settings = smtp.settings();
    let app = crate::helpers::spawn_app_with(backend, move |s| s.smtp = Some(settings)).await;
    app.setup_owner().await;
    let ws = first_workspace(&app).await;
    let member_id = insert_member(&app, "dev@example.com", ws, Role::Viewer).await;
    let page = format!("/settings/members/{member_id}/reset-password");
    let res = app.client().post_form(&page, &page, &[]).await;
    let html = res.text().await.unwrap();
    assert!(html.contains("The link was emailed to dev@example.com"), "{html}");
    let shown = input_value(&html, "reset-link").unwrap();

    let mail = smtp.wait_for(1).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].rcpt_tos, ["dev@example.com"]);
    assert_eq!(mail[0].subject, "Choose a new keyward password");
    for words in [OWNER_EMAIL, "\u{201c}Acme\u{201d}", "works once, until", shown.as_str()] {
        assert!(mail[0].body.contains(words), "{words} missing from:\n{}", mail[0].body);
    }
    // The emailed link is the one that works.
    let link = mail[0].body.lines().map(str::trim).find(|l| l.starts_with("http")).unwrap();
    let path = link.strip_prefix(&app.address).unwrap();
    let new = "a passphrase from my inbox";
    let res = app.new_client().post_form(path, path, &[("password", new), ("password_confirm", new)]).await;
    assert_is_redirect_to(&res, "/login");
    assert_eq!(app.new_client().sign_in("dev@example.com", new).await.status(), 303);
}

async fn making_a_reset_link_asks_for_the_password_when_the_sign_in_is_old(backend: Backend) {
    let app = owner_app(backend).await;
    let ws = first_workspace(&app).await;
    let member_id = insert_member(&app, "dev@example.com", ws, Role::Viewer).await;
    crate::helpers::db::age_confirmation(&app, OWNER_EMAIL, 11).await;
    let page = format!("/settings/members/{member_id}/reset-password");
    let form = app.client().get_text(&page).await;
    assert!(form.contains(r#"name="confirm_identity""#), "the form asks at once: {form}");

    let none = app.client().post_form(&page, &page, &[]).await;
    assert_eq!(none.status(), 422);
    assert!(none.text().await.unwrap().contains("Confirm it\u{2019}s you"));
    let wrong = app.client().post_form(&page, &page, &[("confirm_identity", "not my password")]).await;
    assert_eq!(wrong.status(), 422);
    assert!(wrong.text().await.unwrap().contains("That is not your password"));
    let count = |app: &TestApp| {
        let db = app.state.db.clone();
        async move {
            db.run(|conn| -> Result<i64, DbError> { Ok(password_resets::table.count().get_result(conn)?) })
                .await
                .unwrap()
        }
    };
    assert_eq!(count(&app).await, 0, "no link without the confirmation");

    let right = app.client().post_form(&page, &page, &[("confirm_identity", OWNER_PASSWORD)]).await;
    assert_eq!(right.status(), 200);
    assert!(input_value(&right.text().await.unwrap(), "reset-link").is_some());
    assert_eq!(count(&app).await, 1);
}
