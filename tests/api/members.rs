//! Settings → Members, workspace switching and creation.

use scraper::Html;

use crate::both_backends;
use crate::helpers::pages::{select, text_of};
use crate::helpers::{Backend, MEMBER_PASSWORD, OWNER_EMAIL, TestApp, assert_is_redirect_to, db, spawn_app};

both_backends! {
    owners_add_rerole_and_remove_members_and_each_change_is_audited,
    a_viewer_or_admin_post_is_403_and_changes_nothing,
    the_last_owner_cannot_be_removed_or_demoted,
    a_member_id_or_workspace_id_from_another_workspace_is_404,
    a_removed_member_no_longer_reaches_the_workspace,
    users_switch_between_their_workspaces,
}

async fn member_ids(app: &TestApp) -> Vec<String> {
    let html = app.client().get_text("/settings/members").await;
    html.match_indices("data-member-id=\"")
        .map(|(i, m)| html[i + m.len()..].split('"').next().unwrap().to_owned())
        .collect()
}

async fn owners_add_rerole_and_remove_members_and_each_change_is_audited(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
    let _bob = app.add_member("bob@example.com", "admin").await;
    let _bob_elsewhere = app.sign_in_as("bob@example.com").await;
    let html = web.get_text("/settings/members").await;
    assert!(html.contains("bob@example.com") && html.contains("Admin"), "{html}");
    // A member cannot be invited again.
    let res = web
        .post_form(
            "/settings/members",
            "/settings/invitations",
            &[("email", "bob@example.com"), ("role", "viewer")],
        )
        .await;
    assert_eq!(res.status(), 422, "already a member");
    let bob = db::user_id(&app, "bob@example.com").await.to_string();
    let page = format!("/settings/members/{bob}/role");
    assert!(web.get_text(&page).await.contains("data-confirm-panel"));
    assert_is_redirect_to(&web.post_form(&page, &page, &[("role", "viewer")]).await, "/settings/members");
    assert!(web.get_text("/settings/members").await.contains("Viewer"));
    let rm = format!("/settings/members/{bob}/remove");
    assert_is_redirect_to(&web.post_form(&rm, &rm, &[]).await, "/settings/members");
    assert!(!member_ids(&app).await.contains(&bob), "bob is no longer listed");
    let actions: Vec<String> = db::audit_actions(&app).await.into_iter().map(|(a, _)| a).collect();
    for a in
        ["user.signed_in", "invitation.sent", "invitation.accepted", "member.role_changed", "member.removed"]
    {
        assert!(actions.iter().any(|x| x == a), "{a} missing from {actions:?}");
    }
    // A failed sign-in is audited too.
    let _ = app.new_client().sign_in(OWNER_EMAIL, "wrong password here").await;
    assert!(db::audit_actions(&app).await.iter().any(|(a, _)| a == "user.sign_in_failed"));
}

async fn a_viewer_or_admin_post_is_403_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let viewer = app.add_member("viewer@example.com", "viewer").await;
    let admin = app.add_member("admin@example.com", "admin").await;
    let before = member_ids(&app).await;
    let owner_id = db::user_id(&app, OWNER_EMAIL).await;
    for who in [&viewer, &admin] {
        assert_eq!(who.get("/settings/members").await.status(), 403);
        let res = who
            .post_form(
                "/settings/api-keys",
                "/settings/invitations",
                &[("email", "new@example.com"), ("role", "owner")],
            )
            .await;
        assert_eq!(res.status(), 403);
        let role = format!("/settings/members/{owner_id}/role");
        assert_eq!(who.post_form("/settings/api-keys", &role, &[("role", "viewer")]).await.status(), 403);
        let rm = format!("/settings/members/{owner_id}/remove");
        assert_eq!(who.post_form("/settings/api-keys", &rm, &[]).await.status(), 403);
    }
    assert_eq!(member_ids(&app).await, before);
    assert!(app.client().get_text("/settings/members").await.contains("Owner"));
}

async fn the_last_owner_cannot_be_removed_or_demoted(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
    let me = db::user_id(&app, OWNER_EMAIL).await;
    let role = format!("/settings/members/{me}/role");
    let res = web.post_form(&role, &role, &[("role", "admin")]).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("is the last owner"));
    let rm = format!("/settings/members/{me}/remove");
    let res = web.post_form(&rm, &rm, &[]).await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("is the last owner"));
    assert!(web.get_text("/settings/members").await.contains("Owner"));
    // With a second owner, the first may step down.
    let _other = app.add_member("second@example.com", "owner").await;
    assert_is_redirect_to(&web.post_form(&role, &role, &[("role", "admin")]).await, "/settings/api-keys");
}

async fn a_member_id_or_workspace_id_from_another_workspace_is_404(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
    // Someone else's workspace, with a member only there.
    let stranger = app.new_client();
    let res = web.post_form("/workspaces/new", "/workspaces", &[("workspace_name", "Other")]).await;
    assert_is_redirect_to(&res, "/settings/api-keys");
    let _outsider = app.add_member("outsider@example.com", "viewer").await;
    let outsider = db::user_id(&app, "outsider@example.com").await;
    let acme_ws = db::first_workspace(&app).await;
    let other_ws = acme_ws + 1;
    // Back in Acme, the outsider's id is unknown.
    let back = web
        .post_form("/settings/api-keys", "/workspaces/switch", &[("workspace_id", &acme_ws.to_string())])
        .await;
    assert_is_redirect_to(&back, "/settings/api-keys");
    for page in [format!("/settings/members/{outsider}/role"), format!("/settings/members/{outsider}/remove")]
    {
        assert_eq!(web.get(&page).await.status(), 404, "{page}");
    }
    let rm = format!("/settings/members/{outsider}/remove");
    assert_eq!(web.post_form("/settings/members", &rm, &[]).await.status(), 404);
    // A user who is not in the Other workspace cannot switch to it.
    assert_eq!(stranger.get("/settings/api-keys").await.status(), 303);
    let bob = app.add_member("bob@example.com", "admin").await;
    let res = bob
        .post_form("/settings/api-keys", "/workspaces/switch", &[("workspace_id", &other_ws.to_string())])
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(
        bob.post_form("/settings/api-keys", "/workspaces/switch", &[("workspace_id", "999999")])
            .await
            .status(),
        404
    );
}

async fn a_removed_member_no_longer_reaches_the_workspace(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let bob = app.add_member("bob@example.com", "admin").await;
    assert_eq!(bob.get("/settings/api-keys").await.status(), 200);
    let id = db::user_id(&app, "bob@example.com").await;
    let rm = format!("/settings/members/{id}/remove");
    assert_is_redirect_to(&app.client().post_form(&rm, &rm, &[]).await, "/settings/members");
    let res = bob.get("/settings/api-keys").await;
    assert_eq!(res.status(), 403, "bob's next request no longer reaches the workspace");
    let html = res.text().await.unwrap();
    assert!(html.contains("You belong to no workspace") && !html.contains("Acme"), "{html}");
    for page in ["/settings/audit-log", "/settings/members", "/settings/account"] {
        assert_eq!(bob.get(page).await.status(), 403, "{page}");
    }
    // His right password still signs him in, to a page that says there is nothing to see, and
    // from which an invitation can bring him back.
    let again = app.new_client();
    assert_eq!(again.sign_in("bob@example.com", MEMBER_PASSWORD).await.status(), 303);
    assert_eq!(again.get("/settings/api-keys").await.status(), 403);
    let link = app.invite("bob@example.com", "viewer").await;
    let path = crate::helpers::app::invitation_path(&link);
    let offer = again.get_text(&path).await;
    assert!(offer.contains("bob@example.com") && !offer.contains("name=\"password_confirm\""), "{offer}");
    assert_is_redirect_to(&again.post_form(&path, &path, &[]).await, "/settings/api-keys");
    let back = again.get_text("/settings/api-keys").await;
    assert!(back.contains("You joined Acme as Viewer"), "{back}");
    let acme = db::first_workspace(&app).await;
    assert_eq!(db::role_of(&app, "bob@example.com", acme).await.as_deref(), Some("viewer"));
}

async fn users_switch_between_their_workspaces(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
    assert!(web.get_text("/workspaces/new").await.contains("New workspace"));
    let bad = web.post_form("/workspaces/new", "/workspaces", &[("workspace_name", " ")]).await;
    assert_eq!(bad.status(), 422);
    let res = web.post_form("/workspaces/new", "/workspaces", &[("workspace_name", "Beta")]).await;
    assert_is_redirect_to(&res, "/settings/api-keys");
    // The header's workspace menu names the current workspace and offers the other.
    let current = |html: &str| {
        let doc = Html::parse_document(html);
        select(&doc, "details.workspace-menu summary .workspace-name").iter().map(text_of).collect::<Vec<_>>()
    };
    let html = web.get_text("/settings/api-keys").await;
    assert_eq!(current(&html), ["Beta"]);
    let doc = Html::parse_document(&html);
    let others: Vec<_> =
        select(&doc, "details.workspace-menu button.menu-item").iter().map(text_of).collect();
    assert_eq!(others, ["Acme"]);
    assert_eq!(select(&doc, "details.workspace-menu a[href=\"/workspaces/new\"]").len(), 1);
    // Switching returns to the section the user was on; anything else leads to the key table.
    let to_audit = [("workspace_id", "1"), ("return_to", "/settings/audit-log")];
    assert_is_redirect_to(
        &web.post_form("/settings/audit-log", "/workspaces/switch", &to_audit).await,
        "/settings/audit-log",
    );
    assert_eq!(current(&web.get_text("/settings/api-keys").await), ["Acme"]);
    for bad in ["https://evil.example/", "//evil.example", "/settings/api-keys/new", ""] {
        let form = [("workspace_id", "2"), ("return_to", bad)];
        let res = web.post_form("/settings/api-keys", "/workspaces/switch", &form).await;
        assert_is_redirect_to(&res, "/settings/api-keys");
    }
    let res = web.post_form("/settings/api-keys", "/workspaces/switch", &[("workspace_id", "1")]).await;
    assert_is_redirect_to(&res, "/settings/api-keys");
    assert_eq!(current(&web.get_text("/settings/api-keys").await), ["Acme"]);
    assert!(db::audit_actions(&app).await.iter().filter(|(a, _)| a == "workspace.created").count() == 2);
}
