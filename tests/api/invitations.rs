//! Invitations: owners invite by email and role, the invitee follows the link once. Nobody
//! chooses another person's password, the answer never tells whether an account exists, and
//! a link that is unknown, expired, revoked or used changes nothing.

use futures_util::future::join_all;
use scraper::Html;

use crate::both_backends;
use crate::helpers::app::invitation_path;
use crate::helpers::client::input_value;
use crate::helpers::pages::{no_store, select, text_of};
use crate::helpers::{
    Backend, Client, MEMBER_PASSWORD, OWNER_EMAIL, SmtpServer, assert_is_redirect_to, db, free_port,
    spawn_app, spawn_app_with,
};
use keyward::config::SmtpSettings;

both_backends! {
    an_invitation_creates_nothing_until_the_invitee_chooses_a_password_and_then_signs_them_in,
    the_answer_is_the_same_whether_the_email_has_an_account_or_not,
    the_pre_claim_attack_no_longer_works,
    expired_revoked_and_used_links_get_a_clear_page_and_change_nothing,
    an_existing_account_accepts_after_signing_in_and_keeps_its_password,
    someone_signed_in_as_another_account_cannot_accept,
    owners_revoke_and_replace_invitations_and_only_owners_invite,
    a_link_submitted_twice_at_once_is_used_once,
    the_accept_form_keeps_to_the_password_rules,
    invitations_are_emailed_through_smtp_and_the_emailed_link_works,
    a_mail_server_that_is_down_costs_the_email_not_the_invitation,
}

const NEW_PASSWORD_FORM: [(&str, &str); 2] =
    [("password", MEMBER_PASSWORD), ("password_confirm", MEMBER_PASSWORD)];

fn actions(events: &[(String, String)]) -> Vec<&str> {
    events.iter().map(|(a, _)| a.as_str()).collect()
}

fn heading(html: &str) -> String {
    let doc = Html::parse_document(html);
    select(&doc, "main h1, h1").first().map(text_of).unwrap_or_default()
}

/// POSTs the accept form of `path` from `client`; the answer is the caller's to check.
async fn accept(client: &Client, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    let token = client.csrf_token("/login").await;
    let mut fields = vec![("csrf_token", token.as_str())];
    fields.extend_from_slice(form);
    client.post_form_raw(path, &fields).await
}

async fn an_invitation_creates_nothing_until_the_invitee_chooses_a_password_and_then_signs_them_in(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let acme = db::first_workspace(&app).await;
    let link = app.invite("ada@example.com", "admin").await;
    assert!(link.starts_with(&format!("{}/invitations/", app.address)), "{link}");
    assert!(!db::user_exists(&app, "ada@example.com").await, "no account before acceptance");
    assert_eq!(db::member_emails(&app, acme).await, [OWNER_EMAIL]);
    // The members page lists it as pending, with who invited and until when.
    let html = app.client().get_text("/settings/members").await;
    let doc = Html::parse_document(&html);
    let row: Vec<String> = select(&doc, "table.invitations-table tbody tr td").iter().map(text_of).collect();
    assert_eq!(row[..3], ["ada@example.com", "Admin", OWNER_EMAIL], "{row:?}");
    assert!(row[3].starts_with("in "), "{row:?}");

    let path = invitation_path(&link);
    let ada = app.new_client();
    let res = ada.get(&path).await;
    assert_eq!(res.status(), 200);
    assert!(no_store(&res), "the link's page is never stored");
    let html = res.text().await.unwrap();
    assert!(html.contains("Join Acme") && html.contains("Admin") && html.contains(OWNER_EMAIL), "{html}");
    assert!(html.contains("name=\"password_confirm\""), "a new account chooses its password");
    let res = ada.post_form(&path, &path, &NEW_PASSWORD_FORM).await;
    assert_is_redirect_to(&res, "/settings/api-keys");
    let keys = ada.get_text("/settings/api-keys").await;
    assert!(keys.contains("Welcome to keyward") && keys.contains("Admin in Acme"), "{keys}");
    assert_eq!(db::member_emails(&app, acme).await, ["ada@example.com", OWNER_EMAIL]);
    // The password is hers: she signs in with it again later.
    assert_eq!(app.new_client().sign_in("ada@example.com", MEMBER_PASSWORD).await.status(), 303);
    // No longer pending; both steps are in the audit log.
    let html = app.client().get_text("/settings/members").await;
    assert!(!html.contains("invitations-table"), "{html}");
    let events = db::audit_actions(&app).await;
    for a in ["invitation.sent", "invitation.accepted"] {
        assert!(actions(&events).contains(&a), "{a} missing from {events:?}");
    }
    let accepted = events.iter().find(|(a, _)| a == "invitation.accepted").unwrap();
    assert!(accepted.1.contains("ada@example.com joined as Admin"), "{accepted:?}");
    let log = app.client().get_text("/settings/audit-log").await;
    assert!(
        log.contains("Invitation sent") && log.contains("Invitation accepted"),
        "the log has words for them"
    );
}

/// The link page with everything that names the invitee replaced, and the expiry's exact time
/// (the two invitations are made a moment apart, possibly across a second) reduced to its day.
fn normalised(html: &str, email: &str, link: &str, id: &str) -> String {
    let html = html
        .replace(link, "LINK")
        .replace(email, "EMAIL")
        .replace(&format!("/settings/invitations/{id}/"), "/settings/invitations/ID/");
    let times = clock_times(&html);
    times.into_iter().fold(html, |html, t| html.replace(&t, "TIME"))
}

/// Every `HH:MM:SS` in the page.
fn clock_times(html: &str) -> Vec<String> {
    let bytes = html.as_bytes();
    let mut found = Vec::new();
    for i in 0..bytes.len().saturating_sub(7) {
        let w = &bytes[i..i + 8];
        let digit = |j: usize| w[j].is_ascii_digit();
        if digit(0)
            && digit(1)
            && w[2] == b':'
            && digit(3)
            && digit(4)
            && w[5] == b':'
            && digit(6)
            && digit(7)
        {
            found.push(String::from_utf8_lossy(w).into_owned());
        }
    }
    found
}

async fn the_answer_is_the_same_whether_the_email_has_an_account_or_not(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    // known@ has an account (in another workspace); nobody has unknown@.
    db::second_workspace(&app, "known@example.com").await;
    let web = app.client();
    let mut answers = Vec::new();
    for email in ["known@example.com", "unknown@example.com"] {
        let res = web
            .post_form("/settings/members", "/settings/invitations", &[("email", email), ("role", "viewer")])
            .await;
        assert_eq!(res.status(), 303, "{email}");
        assert!(no_store(&res));
        let location = res.headers().get("location").unwrap().to_str().unwrap().to_owned();
        let id = location
            .strip_prefix("/settings/invitations/")
            .unwrap()
            .strip_suffix("/link")
            .unwrap()
            .to_owned();
        let page = web.get(&location).await;
        assert_eq!(page.status(), 200);
        assert!(no_store(&page), "the link is sent no-store");
        let html = page.text().await.unwrap();
        let link = input_value(&html, "invitation-link").expect("the link, once");
        assert!(html.contains("no SMTP server is configured"), "{html}");
        // Shown once: a reload no longer has it.
        let again = web.get_text(&location).await;
        assert!(input_value(&again, "invitation-link").is_none());
        assert!(again.contains("can no longer be displayed"), "{again}");
        answers.push(normalised(&html, email, &link, &id));
    }
    assert_eq!(answers[0], answers[1], "the two answers differ beyond the email and the link");
}

async fn the_pre_claim_attack_no_longer_works(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let acme = db::first_workspace(&app).await;
    // The attacker is a mere viewer in Acme, and makes a workspace of their own.
    let attacker = app.add_member("mallory@example.com", "viewer").await;
    let res = attacker.post_form("/workspaces/new", "/workspaces", &[("workspace_name", "Evil")]).await;
    assert_is_redirect_to(&res, "/settings/api-keys");
    // There they "add" the colleague, who has no account yet. An invitation takes no password,
    // and creates no account.
    let pre_claim =
        [("email", "colleague@example.com"), ("password", "attackers password"), ("role", "owner")];
    let res = attacker.post_form("/settings/members", "/settings/invitations", &pre_claim).await;
    assert_eq!(res.status(), 303);
    let attackers_link = {
        let page = res.headers().get("location").unwrap().to_str().unwrap().to_owned();
        input_value(&attacker.get_text(&page).await, "invitation-link").unwrap()
    };
    assert!(!db::user_exists(&app, "colleague@example.com").await, "no account was made for the colleague");
    // The real owner invites the colleague to Acme, who accepts with a password of their own.
    let victims_link = app.invite("colleague@example.com", "admin").await;
    let colleague = app.accept_invitation(&victims_link, "colleague@example.com").await;
    assert_eq!(colleague.get("/settings/api-keys").await.status(), 200);
    // The attacker's password is no way in, and neither is the attacker's own link: an
    // invitation never sets the password of an existing account.
    assert_eq!(app.new_client().sign_in("colleague@example.com", "attackers password").await.status(), 401);
    let stranger = app.new_client();
    let path = invitation_path(&attackers_link);
    assert!(stranger.get_text(&path).await.contains("Sign in as colleague@example.com to accept"));
    let res = accept(
        &stranger,
        &path,
        &[("password", "attackers password"), ("password_confirm", "attackers password")],
    )
    .await;
    assert_eq!(res.status(), 403);
    assert_eq!(app.new_client().sign_in("colleague@example.com", "attackers password").await.status(), 401);
    assert_eq!(app.new_client().sign_in("colleague@example.com", MEMBER_PASSWORD).await.status(), 303);
    // Nor can the attacker use the victim's invitation, used or not, as themself.
    let victims_path = invitation_path(&victims_link);
    assert_eq!(accept(&attacker, &victims_path, &[]).await.status(), 410);
    assert_eq!(
        db::member_emails(&app, acme).await,
        ["colleague@example.com", "mallory@example.com", OWNER_EMAIL]
    );
    let mallory = db::user_id(&app, "mallory@example.com").await;
    let evil = db::member_emails(&app, acme + 1).await;
    assert_eq!(evil, ["mallory@example.com"], "the colleague never joined the attacker's workspace");
    // Mallory's own role in Acme is unchanged.
    let html = app.client().get_text("/settings/members").await;
    let doc = Html::parse_document(&html);
    let role = select(&doc, &format!("tr[data-member-id=\"{mallory}\"] td[data-label=\"Role\"]"));
    assert_eq!(text_of(&role[0]), "Viewer");
}

async fn expired_revoked_and_used_links_get_a_clear_page_and_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let acme = db::first_workspace(&app).await;
    // Expired.
    let expired = invitation_path(&app.invite("late@example.com", "viewer").await);
    db::expire_invitations_of(&app, "late@example.com").await;
    // Revoked.
    let revoked = invitation_path(&app.invite("gone@example.com", "viewer").await);
    let html = app.client().get_text("/settings/members").await;
    let id = Html::parse_document(&html)
        .select(&scraper::Selector::parse("tr[data-invitation-id]").unwrap())
        .next()
        .unwrap()
        .value()
        .attr("data-invitation-id")
        .unwrap()
        .to_owned();
    let rm = format!("/settings/invitations/{id}/revoke");
    assert_is_redirect_to(&app.client().post_form(&rm, &rm, &[]).await, "/settings/members");
    // Used.
    let used_link = app.invite("done@example.com", "viewer").await;
    let _done = app.accept_invitation(&used_link, "done@example.com").await;
    let used = invitation_path(&used_link);
    // Unknown: a well-formed token no invitation has.
    let unknown = format!("/invitations/{}", keyward::text::random_token());

    let members_before = db::member_emails(&app, acme).await;
    let audit_before = db::audit_actions(&app).await.len();
    for (path, status, words) in [
        (&expired, 410, "has expired"),
        (&revoked, 410, "was revoked"),
        (&used, 410, "has already been used"),
        (&unknown, 404, "is not valid"),
    ] {
        let visitor = app.new_client();
        let res = visitor.get(path).await;
        assert_eq!(res.status(), status, "{words}");
        let html = res.text().await.unwrap();
        assert!(heading(&html).contains(words), "{words}: {}", heading(&html));
        assert!(html.contains("new invitation") || html.contains("sign in"), "says what to do: {html}");
        assert!(!html.contains("name=\"password\""), "no form on a dead link");
        let res = accept(
            &visitor,
            path,
            &[("password", "a password of mine"), ("password_confirm", "a password of mine")],
        )
        .await;
        assert_eq!(res.status(), status, "{words}: the POST too");
    }
    for email in ["late@example.com", "gone@example.com"] {
        assert!(!db::user_exists(&app, email).await, "{email} has no account");
    }
    assert_eq!(db::member_emails(&app, acme).await, members_before);
    assert_eq!(db::audit_actions(&app).await.len(), audit_before, "nothing was recorded either");
    assert_eq!(app.new_client().sign_in("done@example.com", "a password of mine").await.status(), 401);
}

async fn an_existing_account_accepts_after_signing_in_and_keeps_its_password(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let acme = db::first_workspace(&app).await;
    let globex = db::second_workspace(&app, "known@example.com").await;
    let link = app.invite("known@example.com", "admin").await;
    let path = invitation_path(&link);
    let known = app.new_client();
    let html = known.get_text(&path).await;
    assert!(!html.contains("name=\"password\""), "no password form for an existing account");
    let sign_in = format!("/login?next={path}");
    assert!(html.contains(&format!("href=\"{sign_in}\"")), "{html}");
    let form = [("email", "known@example.com"), ("password", MEMBER_PASSWORD), ("next", path.as_str())];
    assert_is_redirect_to(&known.post_form(&sign_in, "/login", &form).await, &path);
    let html = known.get_text(&path).await;
    assert!(html.contains("Accept and join Acme"), "{html}");
    assert_is_redirect_to(&known.post_form(&path, &path, &[]).await, "/settings/api-keys");
    let keys = known.get_text("/settings/api-keys").await;
    assert!(keys.contains("You joined Acme as Admin"), "{keys}");
    let doc = Html::parse_document(&keys);
    let current: Vec<_> =
        select(&doc, "details.workspace-menu summary .workspace-name").iter().map(text_of).collect();
    assert_eq!(current, ["Acme"], "switched to the workspace joined");
    assert!(db::member_emails(&app, acme).await.contains(&"known@example.com".to_owned()));
    assert_eq!(db::member_emails(&app, globex).await, ["known@example.com"]);
    assert_eq!(app.new_client().sign_in("known@example.com", MEMBER_PASSWORD).await.status(), 303);
    let events = db::audit_actions(&app).await;
    let accepted = events.iter().find(|(a, _)| a == "invitation.accepted").unwrap();
    assert!(accepted.1.contains("existing account"), "{accepted:?}");
}

async fn someone_signed_in_as_another_account_cannot_accept(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let acme = db::first_workspace(&app).await;
    db::second_workspace(&app, "known@example.com").await;
    let bob = app.add_member("bob@example.com", "viewer").await;
    let link = app.invite("known@example.com", "owner").await;
    let path = invitation_path(&link);
    let html = bob.get_text(&path).await;
    assert!(html.contains("you are signed in as bob@example.com"), "{html}");
    assert!(html.contains("action=\"/logout\""), "offers to sign out");
    assert!(!html.contains("Accept and join"), "{html}");
    let res = bob.post_form(&path, &path, &[]).await;
    assert_eq!(res.status(), 403);
    let before = db::member_emails(&app, acme).await;
    assert!(!before.contains(&"known@example.com".to_owned()));
    // Still pending: the invited account accepts it later.
    let _known = app.accept_invitation(&link, "known@example.com").await;
    assert!(db::member_emails(&app, acme).await.contains(&"known@example.com".to_owned()));
    // Bob's role did not change on the way.
    let html = app.client().get_text("/settings/members").await;
    let id = db::user_id(&app, "bob@example.com").await;
    let doc = Html::parse_document(&html);
    let role = select(&doc, &format!("tr[data-member-id=\"{id}\"] td[data-label=\"Role\"]"));
    assert_eq!(text_of(&role[0]), "Viewer");
}

async fn owners_revoke_and_replace_invitations_and_only_owners_invite(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
    let first = invitation_path(&app.invite("eve@example.com", "viewer").await);
    // Inviting again revokes the first link and says so.
    let res = web
        .post_form(
            "/settings/members",
            "/settings/invitations",
            &[("email", "Eve@Example.com"), ("role", "admin")],
        )
        .await;
    let page = res.headers().get("location").unwrap().to_str().unwrap().to_owned();
    let html = web.get_text(&page).await;
    assert!(html.contains("had a pending invitation: it was revoked"), "{html}");
    let second = invitation_path(&input_value(&html, "invitation-link").unwrap());
    assert_eq!(app.new_client().get(&first).await.status(), 410);
    let html = web.get_text("/settings/members").await;
    let doc = Html::parse_document(&html);
    let rows = select(&doc, "tr[data-invitation-id]");
    assert_eq!(rows.len(), 1, "one pending invitation of eve");
    let id = rows[0].value().attr("data-invitation-id").unwrap();
    // Revocation goes through a confirmation page that works without JavaScript.
    let rm = format!("/settings/invitations/{id}/revoke");
    let confirm = web.get_text(&rm).await;
    assert!(confirm.contains("data-confirm-panel") && confirm.contains("eve@example.com"), "{confirm}");
    assert_is_redirect_to(&web.post_form(&rm, &rm, &[]).await, "/settings/members");
    assert!(web.get_text("/settings/members").await.contains("Revoked the invitation of eve@example.com"));
    assert_eq!(app.new_client().get(&second).await.status(), 410);
    // Revoking again: nothing to revoke, said plainly.
    let res = web.post_form(&rm, &rm, &[]).await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("already revoked"));
    let events = db::audit_actions(&app).await;
    assert_eq!(actions(&events).iter().filter(|a| **a == "invitation.revoked").count(), 2);
    assert_eq!(actions(&events).iter().filter(|a| **a == "invitation.sent").count(), 2);
    // An email that is already a member: a field error, with the input kept.
    let res = web
        .post_form("/settings/members", "/settings/invitations", &[("email", OWNER_EMAIL), ("role", "admin")])
        .await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("is already a member of Acme") && html.contains("id=\"email-error\""), "{html}");
    assert_eq!(input_value(&html, "email").as_deref(), Some(OWNER_EMAIL));
    assert!(html.contains("id=\"role-admin\" name=\"role\" value=\"admin\" checked"), "the role is kept");
    assert!(html.contains("data-error-summary"), "{html}");
    // A bad email and no role: both fields say why.
    let res = web.post_form("/settings/members", "/settings/invitations", &[("email", "nope")]).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"email-error\"") && html.contains("id=\"role-error\""), "{html}");
    // Viewers and admins may not invite, see the link page or revoke.
    let viewer = app.add_member("viewer@example.com", "viewer").await;
    let admin = app.add_member("admin@example.com", "admin").await;
    for who in [&viewer, &admin] {
        let form = [("email", "new@example.com"), ("role", "owner")];
        assert_eq!(who.post_form("/settings/api-keys", "/settings/invitations", &form).await.status(), 403);
        assert_eq!(who.get(&format!("/settings/invitations/{id}/link")).await.status(), 403);
        assert_eq!(who.post_form("/settings/api-keys", &rm, &[]).await.status(), 403);
    }
    assert!(!db::user_exists(&app, "new@example.com").await);
    // An id from another workspace is unknown here.
    let res = viewer.post_form("/workspaces/new", "/workspaces", &[("workspace_name", "Own")]).await;
    assert_is_redirect_to(&res, "/settings/api-keys");
    assert_eq!(viewer.get(&rm).await.status(), 404);
    assert_eq!(viewer.get(&format!("/settings/invitations/{id}/link")).await.status(), 404);
}

async fn a_link_submitted_twice_at_once_is_used_once(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let acme = db::first_workspace(&app).await;
    let path = invitation_path(&app.invite("twice@example.com", "viewer").await);
    let browsers: Vec<Client> = (0..4).map(|_| app.new_client()).collect();
    let tokens = join_all(browsers.iter().map(|b| b.csrf_token(&path))).await;
    let path = path.as_str();
    let answers = join_all(browsers.iter().zip(&tokens).map(|(b, token)| {
        let form = [
            ("csrf_token", token.as_str()),
            ("password", MEMBER_PASSWORD),
            ("password_confirm", MEMBER_PASSWORD),
        ];
        async move { b.post_form_raw(path, &form).await.status().as_u16() }
    }))
    .await;
    let mut sorted = answers.clone();
    sorted.sort_unstable();
    assert_eq!(sorted[0], 303, "{answers:?}");
    assert!(sorted[1..].iter().all(|s| *s == 410 || *s == 409), "{answers:?}");
    assert_eq!(db::member_emails(&app, acme).await, [OWNER_EMAIL, "twice@example.com"]);
    let accepted =
        db::audit_actions(&app).await.into_iter().filter(|(a, _)| a == "invitation.accepted").count();
    assert_eq!(accepted, 1);
}

async fn the_accept_form_keeps_to_the_password_rules(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let path = invitation_path(&app.invite("rules@example.com", "viewer").await);
    let visitor = app.new_client();
    let res = visitor.post_form(&path, &path, &[("password", "short"), ("password_confirm", "short")]).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"password-error\"") && html.contains("at least 12"), "{html}");
    assert!(html.contains("data-error-summary"), "{html}");
    let res = visitor
        .post_form(
            &path,
            &path,
            &[("password", MEMBER_PASSWORD), ("password_confirm", "something else entirely")],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("do not match"));
    // The rules for a password one chooses: not a common one, not the email.
    for (weak, why) in
        [("123qweasdzxc", "most common passwords"), ("rules@example.com", "cannot be your email")]
    {
        let res = visitor.post_form(&path, &path, &[("password", weak), ("password_confirm", weak)]).await;
        assert_eq!(res.status(), 422, "{weak}");
        assert!(res.text().await.unwrap().contains(why), "{weak}");
    }
    assert!(!db::user_exists(&app, "rules@example.com").await);
    // The link still works afterwards.
    assert_is_redirect_to(&visitor.post_form(&path, &path, &NEW_PASSWORD_FORM).await, "/settings/api-keys");
    // Without a CSRF token nothing happens.
    let again = app.invite("rules2@example.com", "viewer").await;
    let res = app.new_client().post_form_raw(&invitation_path(&again), &NEW_PASSWORD_FORM).await;
    assert_eq!(res.status(), 403);
    assert!(!db::user_exists(&app, "rules2@example.com").await);
}

async fn invitations_are_emailed_through_smtp_and_the_emailed_link_works(backend: Backend) {
    let Some(smtp) = SmtpServer::start().await else { return };
    let settings = smtp.settings();
    let app = spawn_app_with(backend, move |s| s.smtp = Some(settings)).await;
    app.setup_owner().await;
    let acme = db::first_workspace(&app).await;
    let res = app
        .client()
        .post_form(
            "/settings/members",
            "/settings/invitations",
            &[("email", "mail@example.com"), ("role", "admin")],
        )
        .await;
    let page = res.headers().get("location").unwrap().to_str().unwrap().to_owned();
    let html = app.client().get_text(&page).await;
    assert!(html.contains("The link was emailed to mail@example.com"), "{html}");
    let shown = input_value(&html, "invitation-link").unwrap();

    let mail = smtp.wait_for(1).await;
    assert_eq!(mail.len(), 1);
    let message = &mail[0];
    assert_eq!(message.rcpt_tos, ["mail@example.com"]);
    assert_eq!(message.mail_from, "keyward@example.com");
    assert_eq!(message.from, "Keyward <keyward@example.com>");
    assert_eq!(message.content_type, "text/plain");
    assert!(message.subject.contains(OWNER_EMAIL) && message.subject.contains("Acme"), "{message:?}");
    for words in [OWNER_EMAIL, "\u{201c}Acme\u{201d}", "as Admin", "works once, until", shown.as_str()] {
        assert!(message.body.contains(words), "{words} missing from:\n{}", message.body);
    }
    // Follow the link as written in the email.
    let link = message.body.lines().map(str::trim).find(|l| l.starts_with("http")).unwrap();
    let _invitee = app.accept_invitation(link, "mail@example.com").await;
    assert!(db::member_emails(&app, acme).await.contains(&"mail@example.com".to_owned()));
}

async fn a_mail_server_that_is_down_costs_the_email_not_the_invitation(backend: Backend) {
    // Nothing listens on this port.
    let url = format!("smtp://127.0.0.1:{}", free_port());
    let settings = SmtpSettings::from_parts(Some(&url), Some("keyward@example.com")).unwrap().unwrap();
    let app = spawn_app_with(backend, move |s| s.smtp = Some(settings)).await;
    app.setup_owner().await;
    let acme = db::first_workspace(&app).await;
    let res = app
        .client()
        .post_form(
            "/settings/members",
            "/settings/invitations",
            &[("email", "nomail@example.com"), ("role", "viewer")],
        )
        .await;
    let page = res.headers().get("location").unwrap().to_str().unwrap().to_owned();
    let html = app.client().get_text(&page).await;
    assert!(html.contains("The email could not be sent"), "{html}");
    let link = input_value(&html, "invitation-link").unwrap();
    let _invitee = app.accept_invitation(&link, "nomail@example.com").await;
    assert!(db::member_emails(&app, acme).await.contains(&"nomail@example.com".to_owned()));
}
