//! First-run setup, sign-in, sessions and CSRF.

use crate::both_backends;
use crate::helpers::{
    Backend, Client, OWNER_EMAIL, OWNER_PASSWORD, ServerProcess, TestDb, assert_is_redirect_to, db,
    extract_csrf, spawn_app,
};

both_backends! {
    a_fresh_install_sends_every_console_page_to_setup,
    failed_and_refused_sign_ins_are_logged_with_the_address_only,
    setup_creates_the_owner_then_answers_404,
    racing_setups_make_exactly_one_owner,
    overlapping_setup_transactions_claim_setup_once,
    setup_errors_keep_what_was_typed,
    sign_in_works_and_a_wrong_password_is_refused_vaguely,
    a_post_without_the_csrf_token_is_refused_and_changes_nothing,
    sign_out_makes_a_copied_cookie_worthless,
}

/// An unknown email's failure belongs to no workspace's audit log, so the operator's log is
/// where a password-guessing address shows up: one line per failure and per refusal, with
/// the client address and never what was typed.
async fn failed_and_refused_sign_ins_are_logged_with_the_address_only(backend: Backend) {
    let (_db, url) = TestDb::create(backend);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("keyward.log");
    let server = ServerProcess::start(&url, &log).await;
    Client::new(&server.base).setup(&server.setup_code(), OWNER_EMAIL, OWNER_PASSWORD, "Logged").await;

    let wrong = "not-the-password-42";
    let stranger = "nobody-here@example.com";
    let base = &server.base;
    assert_eq!(Client::new(base).sign_in(stranger, wrong).await.status(), 401);
    // The default throttle: five failures are free, then each attempt from this address must
    // wait, a second and then twice as long each time, so within a few tries one is refused.
    let (mut failed, mut refused) = (1, 0);
    for _ in 0..20 {
        match Client::new(base).sign_in(OWNER_EMAIL, wrong).await.status().as_u16() {
            401 => failed += 1,
            429 => {
                refused += 1;
                break;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(failed >= 6 && refused == 1, "{failed} failed, {refused} refused");

    let text = std::fs::read_to_string(&log).unwrap();
    let failed_lines: Vec<&str> = text.lines().filter(|l| l.contains("sign-in failed")).collect();
    let refused_lines: Vec<&str> = text.lines().filter(|l| l.contains("sign-in refused")).collect();
    assert_eq!((failed_lines.len(), refused_lines.len()), (failed, refused), "{text}");
    assert!(failed_lines.iter().chain(&refused_lines).all(|l| l.contains("127.0.0.1")), "{text}");
    for typed in [wrong, stranger, OWNER_EMAIL, OWNER_PASSWORD] {
        assert!(!text.contains(typed), "{typed:?} is in the log:\n{text}");
    }
}

async fn a_fresh_install_sends_every_console_page_to_setup(backend: Backend) {
    let app = spawn_app(backend).await;
    let web = app.client();
    assert_is_redirect_to(&web.get("/settings/api-keys").await, "/setup");
    assert_is_redirect_to(&web.get("/login").await, "/setup");
    let page = web.get_text("/setup").await;
    assert!(page.contains("Set up keyward"));
}

async fn setup_creates_the_owner_then_answers_404(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
    let page = web.get("/settings/api-keys").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Acme") && html.contains(OWNER_EMAIL), "{html}");
    assert_eq!(web.get("/setup").await.status(), 404);
    // Even a well-formed second setup is refused.
    let res = web
        .post_form(
            "/settings/api-keys",
            "/setup",
            &[
                ("email", "x@example.com"),
                ("password", OWNER_PASSWORD),
                ("password_confirm", OWNER_PASSWORD),
                ("workspace_name", "Evil"),
            ],
        )
        .await;
    assert_eq!(res.status(), 404);
}

async fn racing_setups_make_exactly_one_owner(backend: Backend) {
    let app = spawn_app(backend).await;
    // Every browser holds a setup form before any of them submits it.
    let mut forms = Vec::new();
    for i in 0..8 {
        let browser = app.new_client();
        let token = extract_csrf(&browser.get_text("/setup").await).expect("csrf token");
        forms.push((browser, token, format!("owner{i}@example.com")));
    }
    let code = app.setup_code();
    let code = code.as_str();
    let statuses = futures_util::future::join_all(forms.iter().map(|(browser, token, email)| async move {
        let fields = [
            ("csrf_token", token.as_str()),
            ("setup_code", code),
            ("email", email.as_str()),
            ("password", OWNER_PASSWORD),
            ("password_confirm", OWNER_PASSWORD),
            ("workspace_name", email.as_str()),
        ];
        browser.post_form_raw("/setup", &fields).await.status().as_u16()
    }))
    .await;
    assert_eq!(statuses.iter().filter(|&&s| s == 303).count(), 1, "exactly one setup wins: {statuses:?}");
    assert!(statuses.iter().all(|&s| s == 303 || s == 404), "the others are 404: {statuses:?}");
    let created = db::audit_actions(&app).await.into_iter().filter(|(a, _)| a == "workspace.created").count();
    assert_eq!(created, 1, "one workspace and one owner");
}

/// The HTTP race above rarely overlaps two transactions; this one forces the overlap: the
/// first claim is held open while the second is attempted on another connection.
async fn overlapping_setup_transactions_claim_setup_once(backend: Backend) {
    use keyward::accounts::store::claim_setup;
    use keyward::db::DbError;
    let app = spawn_app(backend).await;
    let now = chrono::Utc::now().naive_utc();
    let (first_in, second_go) = std::sync::mpsc::channel();
    let db = app.state.db.clone();
    let first = std::thread::spawn(move || {
        db.write_blocking(|conn| -> Result<bool, DbError> {
            let won = claim_setup(conn, now)?;
            first_in.send(()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(300));
            Ok(won)
        })
    });
    second_go.recv().unwrap();
    let db = app.state.db.clone();
    let second = std::thread::spawn(move || {
        db.write_blocking(|conn| -> Result<bool, DbError> { Ok(claim_setup(conn, now)?) })
    });
    assert!(first.join().unwrap().expect("first claim"));
    assert!(!second.join().unwrap().expect("second claim"), "the second claim waits and then loses");
}

async fn setup_errors_keep_what_was_typed(backend: Backend) {
    let app = spawn_app(backend).await;
    let web = app.client();
    let res = web
        .post_form(
            "/setup",
            "/setup",
            &[
                ("email", "not-an-email"),
                ("password", "short"),
                ("password_confirm", "short"),
                ("workspace_name", "My <Team>"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("Enter an email address like name@example.com."));
    assert!(html.contains("Use at least 12 characters."));
    assert!(html.contains("value=\"not-an-email\""));
    assert!(
        html.contains("value=\"My &#60;Team&#62;\"") || html.contains("value=\"My &lt;Team&gt;\""),
        "{html}"
    );
    assert_is_redirect_to(&web.get("/settings/api-keys").await, "/setup");
}

async fn sign_in_works_and_a_wrong_password_is_refused_vaguely(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    // A browser that has not signed in.
    let web = app.new_client();
    assert_is_redirect_to(&web.get("/settings/api-keys").await, "/login?next=%2Fsettings%2Fapi-keys");

    let wrong_pw = web.sign_in(OWNER_EMAIL, "wrong password here").await;
    assert_eq!(wrong_pw.status(), 401);
    let wrong_pw = wrong_pw.text().await.unwrap();
    let wrong_email = web.sign_in("nobody@example.com", OWNER_PASSWORD).await.text().await.unwrap();
    let msg = keyward::console::auth::BAD_CREDENTIALS;
    assert!(wrong_pw.contains(msg) && wrong_email.contains(msg));

    let ok = web
        .post_form(
            "/login?next=/settings/api-keys",
            "/login",
            &[("email", OWNER_EMAIL), ("password", OWNER_PASSWORD), ("next", "https://evil.example")],
        )
        .await;
    assert_is_redirect_to(&ok, "/settings/api-keys");
    assert_eq!(web.get("/settings/api-keys").await.status(), 200);

    // `next` survives only as a path on this site: protocol-relative and backslash tricks that
    // browsers read as another host fall back to the key table.
    for (next, lands_on) in [
        ("/settings/audit-log", "/settings/audit-log"),
        ("//evil.example", "/settings/api-keys"),
        ("/\\evil.example", "/settings/api-keys"),
        ("https:/evil.example", "/settings/api-keys"),
    ] {
        let browser = app.new_client();
        let res = browser
            .post_form(
                "/login",
                "/login",
                &[("email", OWNER_EMAIL), ("password", OWNER_PASSWORD), ("next", next)],
            )
            .await;
        assert_is_redirect_to(&res, lands_on);
    }
}

async fn a_post_without_the_csrf_token_is_refused_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let web = app.client();
    let _ = web.get("/setup").await;
    let code = app.setup_code();
    let fields = [
        ("setup_code", code.as_str()),
        ("email", OWNER_EMAIL),
        ("password", OWNER_PASSWORD),
        ("password_confirm", OWNER_PASSWORD),
        ("workspace_name", "Acme"),
    ];
    assert_eq!(web.post_form_raw("/setup", &fields).await.status(), 403);
    let mut with_wrong = vec![("csrf_token", "forged")];
    with_wrong.extend_from_slice(&fields);
    assert_eq!(web.post_form_raw("/setup", &with_wrong).await.status(), 403);
    // A right token from another site's page is refused by the Origin check.
    let token = web.csrf_token("/setup").await;
    let mut right = vec![("csrf_token", token.as_str())];
    right.extend_from_slice(&fields);
    let cross = web
        .post_request("/setup")
        .header("Origin", "https://evil.example")
        .form(&right)
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    // Nothing was created.
    assert_eq!(web.get("/setup").await.status(), 200);

    // The same holds for a signed-in admin's forms.
    app.setup_owner().await;
    let key = [("name", "Forged"), ("permissions", "records:read"), ("expiry", "30")];
    assert_eq!(web.post_form_raw("/settings/api-keys", &key).await.status(), 403);
    let mut forged = vec![("csrf_token", "forged")];
    forged.extend_from_slice(&key);
    assert_eq!(web.post_form_raw("/settings/api-keys", &forged).await.status(), 403);
    let table = web.get_text("/settings/api-keys").await;
    assert!(!table.contains("Forged"), "no key was created: {table}");
}

async fn sign_out_makes_a_copied_cookie_worthless(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    assert_eq!(app.client().get("/settings/api-keys").await.status(), 200);
    let set_cookie = {
        // Sign in afresh on a client whose cookies we can read.
        let c = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let page = c.get(app.url("/login")).send().await.unwrap();
        let anon =
            page.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_owned();
        let html = page.text().await.unwrap();
        let token = extract_csrf(&html).unwrap();
        let res = c
            .post(app.url("/login"))
            .header("Cookie", &anon)
            .form(&[("csrf_token", token.as_str()), ("email", OWNER_EMAIL), ("password", OWNER_PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let cookie_header = res.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
        assert!(cookie_header.contains("HttpOnly"), "{cookie_header}");
        assert!(cookie_header.contains("SameSite=Lax"), "{cookie_header}");
        cookie_header.split(';').next().unwrap().to_owned()
    };
    let c = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = c.get(app.url("/settings/api-keys")).header("Cookie", &set_cookie).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let token = extract_csrf(&page.text().await.unwrap()).unwrap();
    let out = c
        .post(app.url("/logout"))
        .header("Cookie", &set_cookie)
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_is_redirect_to(&out, "/signed-out");
    let page = c.get(app.url("/signed-out")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("You have signed out"));
    // Replaying the old cookie after sign-out gets the sign-in page, not the keys.
    let replay = c.get(app.url("/settings/api-keys")).header("Cookie", &set_cookie).send().await.unwrap();
    assert_eq!(replay.status(), 303);
}
