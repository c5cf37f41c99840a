//! Two-factor sign-in: enrolment, the sign-in's second step, recovery codes, the secret at
//! rest, and a workspace that requires two-factor of every member. Codes are computed here
//! from the secret the enrolment page shows, as an authenticator app would.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use scraper::Html;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::both_backends;
use crate::helpers::pages::{select, text_of};
use crate::helpers::{
    Backend, Client, MEMBER_PASSWORD, OWNER_EMAIL, OWNER_PASSWORD, ServerProcess, TestDb,
    assert_is_redirect_to, db, spawn_app,
};

both_backends! {
    enrolment_needs_a_right_code_and_shows_ten_recovery_codes_once,
    a_right_password_alone_opens_no_session_and_the_code_completes_the_sign_in,
    a_code_is_refused_the_second_time_within_its_window,
    a_recovery_code_signs_in_once,
    too_many_wrong_codes_end_the_pending_sign_in,
    the_secret_is_stored_encrypted_and_appears_in_no_log_line,
    a_workspace_requirement_sends_members_without_two_factor_to_enrolment_first,
    the_requirement_needs_the_owners_own_two_factor_and_keeps_theirs_on,
    new_recovery_codes_replace_the_old_ones_after_re_authentication,
}

pub const PAGE: &str = "/settings/account/two-factor";

/// An authenticator app holding one secret.
pub struct App(TOTP);

impl App {
    fn new(base32: &str) -> Self {
        let bytes = Secret::Encoded(base32.to_owned()).to_bytes().expect("a base32 secret");
        Self(TOTP::new_unchecked(Algorithm::SHA1, 6, 0, 30, bytes))
    }

    /// The code of the step `offset` steps from now (-1, 0 and 1 are accepted).
    pub fn code(&self, offset: i64) -> String {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
        self.0.generate((now + offset * 30) as u64)
    }

    /// A code no step near now has: the current one with its last digit changed.
    pub fn wrong_code(&self) -> String {
        let near: Vec<String> = (-1..=1).map(|o| self.code(o)).collect();
        (0..10)
            .map(|d| format!("{}{d}", &near[1][..5]))
            .find(|c| !near.contains(c))
            .expect("ten candidates, three codes")
    }
}

/// Waits, when the current 30-second step ends within `margin`, for the next one, so a test
/// can use the codes of the steps before, at and after now without the window moving.
pub async fn wait_for_fresh_step(margin: u64) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let into = now.as_secs() % 30;
    if 30 - into <= margin {
        tokio::time::sleep(Duration::from_secs(30 - into) + Duration::from_millis(200)).await;
    }
}

/// Enrols the signed-in browser through the pages, with the code of the step before now (so
/// the current and the next step's codes are still unused). Returns the app and the
/// recovery codes.
pub async fn enrol(web: &Client) -> (App, Vec<String>) {
    wait_for_fresh_step(8).await;
    let res = web.post_form(PAGE, "/settings/account/two-factor/setup", &[]).await;
    assert_is_redirect_to(&res, PAGE);
    let html = web.get_text(PAGE).await;
    let app = App::new(&secret_on(&html));
    let res = web.post_form(PAGE, "/settings/account/two-factor/enable", &[("code", &app.code(-1))]).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    (app, recovery_codes_on(&html))
}

/// The secret as the enrolment page shows it for typing, without its spaces.
pub fn secret_on(html: &str) -> String {
    let doc = Html::parse_document(html);
    let el = select(&doc, "#totp-secret");
    assert_eq!(el.len(), 1, "one secret on the page:\n{html}");
    text_of(&el[0]).replace(' ', "")
}

fn recovery_codes_on(html: &str) -> Vec<String> {
    let doc = Html::parse_document(html);
    select(&doc, "#recovery-codes")
        .first()
        .map(|el| text_of(el).split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Signs in with the password; the answer must lead to the code step.
pub async fn password_step(web: &Client, email: &str, password: &str) {
    assert_is_redirect_to(&web.sign_in(email, password).await, "/login/two-factor");
}

pub async fn code_step(web: &Client, code: &str) -> reqwest::Response {
    web.post_form("/login/two-factor", "/login/two-factor", &[("code", code)]).await
}

async fn recovery_step(web: &Client, code: &str) -> reqwest::Response {
    web.post_form(
        "/login/two-factor?method=recovery",
        "/login/two-factor",
        &[("method", "recovery"), ("recovery_code", code)],
    )
    .await
}

async fn enrolment_needs_a_right_code_and_shows_ten_recovery_codes_once(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
    assert!(web.get_text(PAGE).await.contains("Set up two-factor sign-in"));
    wait_for_fresh_step(8).await;
    let res = web.post_form(PAGE, "/settings/account/two-factor/setup", &[]).await;
    assert_is_redirect_to(&res, PAGE);
    let html = web.get_text(PAGE).await;
    assert!(html.contains("<svg role=\"img\""), "an inline QR code:\n{html}");
    let authenticator = App::new(&secret_on(&html));

    let res = web
        .post_form(PAGE, "/settings/account/two-factor/enable", &[("code", &authenticator.wrong_code())])
        .await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("That code does not match"), "{html}");
    assert!(html.contains("id=\"totp-secret\""), "the same secret stays on the page");

    let res =
        web.post_form(PAGE, "/settings/account/two-factor/enable", &[("code", &authenticator.code(0))]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers().get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    let codes = recovery_codes_on(&res.text().await.unwrap());
    assert_eq!(codes.len(), 10, "{codes:?}");
    assert!(codes.iter().all(|c| c.len() == 11 && c.as_bytes()[5] == b'-'), "{codes:?}");

    let again = web.get_text(PAGE).await;
    assert!(again.contains("since"), "{again}");
    assert!(codes.iter().all(|c| !again.contains(c.as_str())), "the codes are shown once only");
    assert!(!again.contains("id=\"totp-secret\""), "nor the secret");
    let actions = db::audit_actions(&app).await;
    assert!(actions.iter().any(|(a, _)| a == "user.two_factor_enabled"), "{actions:?}");
}

async fn a_right_password_alone_opens_no_session_and_the_code_completes_the_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let (authenticator, _) = enrol(app.client()).await;
    let sessions_before = db::session_count(&app, OWNER_EMAIL).await;

    let web = app.new_client();
    let res = web
        .post_form(
            "/login?next=/settings/audit-log",
            "/login",
            &[("email", OWNER_EMAIL), ("password", OWNER_PASSWORD), ("next", "/settings/audit-log")],
        )
        .await;
    assert_is_redirect_to(&res, "/login/two-factor");
    assert_eq!(db::session_count(&app, OWNER_EMAIL).await, sessions_before, "no session yet");
    assert_eq!(web.get("/settings/api-keys").await.status(), 303, "not signed in");
    let page = web.get_text("/login/two-factor").await;
    assert!(page.contains("Authentication code") && page.contains("Use a recovery code instead"), "{page}");

    let res = code_step(&web, &authenticator.wrong_code()).await;
    assert_eq!(res.status(), 401);
    assert!(res.text().await.unwrap().contains("That code is wrong"));
    assert_eq!(db::session_count(&app, OWNER_EMAIL).await, sessions_before);

    assert_is_redirect_to(&code_step(&web, &authenticator.code(0)).await, "/settings/audit-log");
    assert_eq!(web.get("/settings/api-keys").await.status(), 200);
    assert_eq!(db::session_count(&app, OWNER_EMAIL).await, sessions_before + 1);
    let actions = db::audit_actions(&app).await;
    assert!(
        actions.iter().any(|(a, d)| a == "user.sign_in_failed" && d == "wrong two-factor code"),
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|(a, d)| a == "user.signed_in" && d.contains("two-factor code")),
        "{actions:?}"
    );
}

async fn a_code_is_refused_the_second_time_within_its_window(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let (authenticator, _) = enrol(app.client()).await;
    let code = authenticator.code(0);

    let first = app.new_client();
    password_step(&first, OWNER_EMAIL, OWNER_PASSWORD).await;
    assert_is_redirect_to(&code_step(&first, &code).await, "/settings/api-keys");

    let second = app.new_client();
    password_step(&second, OWNER_EMAIL, OWNER_PASSWORD).await;
    let res = code_step(&second, &code).await;
    assert_eq!(res.status(), 401);
    assert!(res.text().await.unwrap().contains("already used"));
    // Nor an older code, even one never used: steps only go forward.
    assert_eq!(code_step(&second, &authenticator.code(-1)).await.status(), 401);
    assert_is_redirect_to(&code_step(&second, &authenticator.code(1)).await, "/settings/api-keys");
}

async fn a_recovery_code_signs_in_once(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let (_, codes) = enrol(app.client()).await;

    let web = app.new_client();
    password_step(&web, OWNER_EMAIL, OWNER_PASSWORD).await;
    let page = web.get_text("/login/two-factor?method=recovery").await;
    assert!(page.contains("Recovery code"), "{page}");
    // Typed in capitals with a space: still the code.
    let typed = codes[0].to_uppercase().replace('-', " ");
    assert_is_redirect_to(&recovery_step(&web, &typed).await, "/settings/api-keys");
    let keys = web.get_text("/settings/api-keys").await;
    assert!(keys.contains("9 recovery codes are left"), "{keys}");

    let again = app.new_client();
    password_step(&again, OWNER_EMAIL, OWNER_PASSWORD).await;
    let res = recovery_step(&again, &codes[0]).await;
    assert_eq!(res.status(), 401);
    assert!(res.text().await.unwrap().contains("already used"));
    assert_is_redirect_to(&recovery_step(&again, &codes[1]).await, "/settings/api-keys");
    let actions = db::audit_actions(&app).await;
    assert!(
        actions.iter().any(|(a, d)| a == "user.signed_in" && d.contains("recovery code (8 left)")),
        "{actions:?}"
    );
}

async fn too_many_wrong_codes_end_the_pending_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let (authenticator, _) = enrol(app.client()).await;

    let web = app.new_client();
    password_step(&web, OWNER_EMAIL, OWNER_PASSWORD).await;
    for _ in 0..4 {
        assert_eq!(code_step(&web, &authenticator.wrong_code()).await.status(), 401);
    }
    assert_is_redirect_to(&code_step(&web, &authenticator.wrong_code()).await, "/login");
    let login = web.get_text("/login").await;
    assert!(login.contains("Too many wrong codes"), "{login}");
    // The pending sign-in is gone: even the right code now leads back to the password.
    assert_is_redirect_to(&web.get("/login/two-factor").await, "/login");
    let token = web.csrf_token("/login").await;
    let res = web
        .post_form_raw("/login/two-factor", &[("csrf_token", &token), ("code", &authenticator.code(0))])
        .await;
    assert_is_redirect_to(&res, "/login");
    assert_eq!(web.get("/settings/api-keys").await.status(), 303);
}

async fn the_secret_is_stored_encrypted_and_appears_in_no_log_line(backend: Backend) {
    // In process: the column holds no readable secret.
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
    web.post_form(PAGE, "/settings/account/two-factor/setup", &[]).await;
    let secret = secret_on(&web.get_text(PAGE).await);
    let stored = db::stored_totp_secret(&app, OWNER_EMAIL).await.expect("a pending secret");
    assert!(stored.starts_with("v1:"), "{stored}");
    assert!(!stored.to_uppercase().contains(&secret[..16]), "{stored} holds the secret");

    // As a process with its log at debug: enrol, sign in with a code and with a recovery code.
    let (_db, url) = TestDb::create(backend);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("keyward.log");
    let server = ServerProcess::start_with_env(&url, &log, &[("RUST_LOG", "debug")]).await;
    let owner = Client::new(&server.base);
    owner.setup(&server.setup_code(), OWNER_EMAIL, OWNER_PASSWORD, "Logged").await;
    owner.post_form(PAGE, "/settings/account/two-factor/setup", &[]).await;
    let secret = secret_on(&owner.get_text(PAGE).await);
    let authenticator = App::new(&secret);
    let res = owner
        .post_form(PAGE, "/settings/account/two-factor/enable", &[("code", &authenticator.code(-1))])
        .await;
    let codes = recovery_codes_on(&res.text().await.unwrap());
    assert_eq!(codes.len(), 10);
    let web = Client::new(&server.base);
    password_step(&web, OWNER_EMAIL, OWNER_PASSWORD).await;
    code_step(&web, &authenticator.wrong_code()).await;
    let code = authenticator.code(0);
    assert_is_redirect_to(&code_step(&web, &code).await, "/settings/api-keys");
    let web = Client::new(&server.base);
    password_step(&web, OWNER_EMAIL, OWNER_PASSWORD).await;
    assert_is_redirect_to(&recovery_step(&web, &codes[3]).await, "/settings/api-keys");

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().count() > 5, "the log is written:\n{text}");
    let grouped: String = secret
        .chars()
        .collect::<Vec<_>>()
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ");
    for needle in [secret.as_str(), &secret[..12], grouped.as_str(), code.as_str(), codes[3].as_str()] {
        assert!(!text.contains(needle), "{needle:?} is in the log:\n{text}");
    }
}

async fn a_workspace_requirement_sends_members_without_two_factor_to_enrolment_first(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let member = app.add_member("viewer@example.com", "viewer").await;
    enrol(app.client()).await;
    let ws = db::first_workspace(&app).await;

    let res = app
        .client()
        .post_form("/settings/workspace", "/settings/workspace", &[("require_two_factor", "on")])
        .await;
    assert_is_redirect_to(&res, "/settings/workspace");
    assert!(db::two_factor_required(&app, ws).await);
    let actions = db::audit_actions(&app).await;
    assert!(actions.iter().any(|(a, _)| a == "workspace.two_factor_required"), "{actions:?}");

    for page in ["/settings/api-keys", "/settings/audit-log", "/settings/api-keys/new"] {
        assert_is_redirect_to(&member.get(page).await, PAGE);
    }
    let html = member.get_text(PAGE).await;
    assert!(html.contains("requires two-factor sign-in"), "{html}");
    let (authenticator, _) = enrol(&member).await;
    assert_eq!(member.get("/settings/api-keys").await.status(), 200);

    // And the next sign-in asks for the code.
    let again = app.new_client();
    password_step(&again, "viewer@example.com", MEMBER_PASSWORD).await;
    assert_is_redirect_to(&code_step(&again, &authenticator.code(0)).await, "/settings/api-keys");
}

async fn the_requirement_needs_the_owners_own_two_factor_and_keeps_theirs_on(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
    let ws = db::first_workspace(&app).await;
    let res =
        web.post_form("/settings/workspace", "/settings/workspace", &[("require_two_factor", "on")]).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("Turn on two-factor sign-in for your own account first"), "{html}");
    assert!(
        html.contains("id=\"require_two_factor\" name=\"require_two_factor\" value=\"on\" checked"),
        "kept"
    );
    assert!(!db::two_factor_required(&app, ws).await);

    enrol(web).await;
    let res =
        web.post_form("/settings/workspace", "/settings/workspace", &[("require_two_factor", "on")]).await;
    assert_is_redirect_to(&res, "/settings/workspace");
    // While the workspace requires it, the owner's own two-factor cannot be turned off.
    let page = web.get_text("/settings/account/two-factor/disable").await;
    assert!(page.contains("You cannot turn off two-factor sign-in"), "{page}");
    let res = web.post_form(PAGE, "/settings/account/two-factor/disable", &[]).await;
    assert_is_redirect_to(&res, PAGE);
    assert!(web.get_text(PAGE).await.contains("cannot be turned off"));
    assert!(db::stored_totp_secret(&app, OWNER_EMAIL).await.is_some());

    // Optional again: now it can be turned off, and the secret goes.
    let res = web.post_form("/settings/workspace", "/settings/workspace", &[]).await;
    assert_is_redirect_to(&res, "/settings/workspace");
    assert!(!db::two_factor_required(&app, ws).await);
    let res = web
        .post_form("/settings/account/two-factor/disable", "/settings/account/two-factor/disable", &[])
        .await;
    assert_is_redirect_to(&res, PAGE);
    assert!(db::stored_totp_secret(&app, OWNER_EMAIL).await.is_none());
    let actions: Vec<String> = db::audit_actions(&app).await.into_iter().map(|(a, _)| a).collect();
    for action in ["workspace.two_factor_optional", "user.two_factor_disabled"] {
        assert!(actions.iter().any(|a| a == action), "{action} in {actions:?}");
    }
}

async fn new_recovery_codes_replace_the_old_ones_after_re_authentication(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
    let (authenticator, old) = enrol(web).await;
    db::age_confirmation(&app, OWNER_EMAIL, 11).await;
    assert!(web.get_text(PAGE).await.contains("id=\"confirm_identity\""));
    let action = "/settings/account/two-factor/recovery-codes";
    let res = web.post_form(PAGE, action, &[("confirm_identity", "not the password, no")]).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("That is not your password"));

    let res = web.post_form(PAGE, action, &[("confirm_identity", &authenticator.code(0))]).await;
    assert_eq!(res.status(), 200);
    let new = recovery_codes_on(&res.text().await.unwrap());
    assert_eq!(new.len(), 10);
    assert!(new.iter().all(|c| !old.contains(c)));

    let signing_in = app.new_client();
    password_step(&signing_in, OWNER_EMAIL, OWNER_PASSWORD).await;
    assert_eq!(recovery_step(&signing_in, &old[0]).await.status(), 401, "the old codes are dead");
    assert_is_redirect_to(&recovery_step(&signing_in, &new[0]).await, "/settings/api-keys");
    let actions = db::audit_actions(&app).await;
    assert!(actions.iter().any(|(a, _)| a == "user.recovery_codes_regenerated"), "{actions:?}");
}
