//! The bound on argon2 work at once: sign-in, first-run setup and accepting an invitation with a
//! new account all wait a
//! short while for a turn, and are answered 429 with `Retry-After` when none comes, their form
//! shown again with what was typed. Most tests hold every turn themselves (one permit, taken
//! through the app's state), so the outcome does not depend on how fast argon2 runs.

use std::time::Duration;

use futures_util::future::join_all;
use keyward::config::Settings;

use crate::both_backends;
use crate::helpers::app::invitation_path;
use crate::helpers::client::input_value;
use crate::helpers::{Backend, Client, OWNER_EMAIL, OWNER_PASSWORD, TestApp, db, spawn_app_with};

both_backends! {
    a_sign_in_while_every_turn_is_taken_is_answered_429_and_is_not_counted_as_a_failure,
    setup_while_every_turn_is_taken_is_answered_429_with_the_form_kept,
    accepting_an_invitation_while_every_turn_is_taken_is_answered_429_and_creates_nothing,
    a_flood_of_sign_ins_beyond_the_bound_gets_429s_with_retry_after_and_no_errors,
}

/// One turn, a tenth of a second's wait, and a throttle that stays out of the way.
fn one_permit(s: &mut Settings) {
    s.password_work.permits = 1;
    s.password_work.max_wait = Duration::from_millis(100);
    s.login_throttle.max_failures_per_ip = 10_000;
}

#[track_caller]
fn assert_busy(status: u16, retry_after: Option<&str>, html: &str) {
    assert_eq!(status, 429, "{html}");
    assert_eq!(retry_after, Some("1"), "Retry-After in whole seconds, at least one");
    assert!(html.contains("The server is busy checking other"), "{html}");
}

async fn a_sign_in_while_every_turn_is_taken_is_answered_429_and_is_not_counted_as_a_failure(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |s| {
        one_permit(s);
        // A single counted failure would make the next attempt wait an hour.
        s.login_throttle.free_failures_per_pair = 1;
        s.login_throttle.first_delay = Duration::from_secs(3600);
    })
    .await;
    app.setup_owner().await;
    let web = app.new_client();

    let turn = app.state.password_work.turn().await.expect("the only turn");
    let res = web.sign_in(OWNER_EMAIL, OWNER_PASSWORD).await;
    let retry_after = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    let status = res.status().as_u16();
    let html = res.text().await.unwrap();
    assert_busy(status, retry_after.as_deref(), &html);
    assert_eq!(input_value(&html, "email").as_deref(), Some(OWNER_EMAIL), "the email is kept");
    drop(turn);

    // The busy answer cost nothing: the right password gets in at once.
    assert_eq!(web.sign_in(OWNER_EMAIL, OWNER_PASSWORD).await.status(), 303);
}

async fn setup_while_every_turn_is_taken_is_answered_429_with_the_form_kept(backend: Backend) {
    let app = spawn_app_with(backend, one_permit).await;
    let web = app.client();
    let code = app.setup_code();
    let form = [
        ("setup_code", code.as_str()),
        ("email", OWNER_EMAIL),
        ("password", OWNER_PASSWORD),
        ("password_confirm", OWNER_PASSWORD),
        ("workspace_name", "Acme"),
    ];

    let turn = app.state.password_work.turn().await.expect("the only turn");
    let res = web.post_form("/setup", "/setup", &form).await;
    let retry_after = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    let status = res.status().as_u16();
    let html = res.text().await.unwrap();
    assert_busy(status, retry_after.as_deref(), &html);
    assert!(html.contains("nothing was created"), "{html}");
    assert_eq!(input_value(&html, "email").as_deref(), Some(OWNER_EMAIL));
    assert_eq!(input_value(&html, "workspace_name").as_deref(), Some("Acme"));
    assert_eq!(input_value(&html, "setup_code").as_deref(), Some(code.as_str()));
    // Nothing was created: setup is still open.
    assert_eq!(web.get("/setup").await.status(), 200);
    drop(turn);

    app.setup_owner().await;
}

async fn accepting_an_invitation_while_every_turn_is_taken_is_answered_429_and_creates_nothing(
    backend: Backend,
) {
    let app = spawn_app_with(backend, one_permit).await;
    app.setup_owner().await;
    let link = app.invite("new@example.com", "admin").await;
    let path = invitation_path(&link);
    let invitee = app.new_client();
    let form = [("password", "a new member password"), ("password_confirm", "a new member password")];

    let turn = app.state.password_work.turn().await.expect("the only turn");
    let res = invitee.post_form(&path, &path, &form).await;
    let retry_after = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    let status = res.status().as_u16();
    let html = res.text().await.unwrap();
    assert_busy(status, retry_after.as_deref(), &html);
    assert!(html.contains("your account was not created"), "{html}");
    assert!(html.contains("name=\"password_confirm\""), "the form is shown again");
    drop(turn);
    assert!(!db::user_exists(&app, "new@example.com").await);
    assert!(!db::audit_actions(&app).await.iter().any(|(a, _)| a == "invitation.accepted"));

    let res = invitee.post_form(&path, &path, &form).await;
    assert_eq!(res.status(), 303, "accepted once a turn is free");
}

/// What the flood measured in docs/BENCHMARKS.md does, in small: many sign-ins at once, each
/// for an account of its own, against one permit. Those past the bound wait their tenth of a
/// second and are refused; none fails otherwise. (That some are refused does not hang on
/// timing: thirty argon2 runs one after another take far longer than a tenth of a second.)
async fn a_flood_of_sign_ins_beyond_the_bound_gets_429s_with_retry_after_and_no_errors(backend: Backend) {
    let app = spawn_app_with(backend, one_permit).await;
    app.setup_owner().await;
    let clients: Vec<Client> = (0..30).map(|_| app.new_client()).collect();
    // Each browser has its form token before the flood, so the sign-ins arrive together.
    let tokens = join_all(clients.iter().map(|c| c.csrf_token("/login"))).await;
    let answers = join_all(clients.iter().zip(&tokens).enumerate().map(|(i, (c, token))| {
        let email = format!("flood{i}@example.com");
        async move {
            let res = c
                .post_form_raw(
                    "/login",
                    &[("csrf_token", token), ("email", &email), ("password", "wrong password here")],
                )
                .await;
            (res.status().as_u16(), res.headers().get("retry-after").is_some())
        }
    }))
    .await;
    let busy = answers.iter().filter(|(s, _)| *s == 429).count();
    let failed = answers.iter().filter(|(s, _)| *s == 401).count();
    assert_eq!(busy + failed, answers.len(), "only 401s and 429s: {answers:?}");
    assert!(busy > 0 && failed > 0, "some checked, some turned away: {answers:?}");
    assert!(answers.iter().all(|(s, retry)| *s != 429 || *retry), "every 429 says when: {answers:?}");
    still_serves(&app).await;
}

async fn still_serves(app: &TestApp) {
    assert_eq!(app.new_client().sign_in(OWNER_EMAIL, OWNER_PASSWORD).await.status(), 303);
}
