//! Who may do what: viewers see the keys but no actions and are refused every change, and
//! another workspace's keys are not found at all.

use keyward::accounts::Role;

use crate::both_backends;
use crate::helpers::db;
use crate::helpers::pages::{cell, row_ids, select, text_of};
use crate::helpers::{Backend, spawn_app};
use scraper::Html;

both_backends! {
    viewers_see_no_actions_and_are_refused,
    another_workspaces_key_is_not_found,
}

async fn viewers_see_no_actions_and_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
    let id = web.create_key("Deploy bot", &["records:read"], "30").await.id;
    let ws = db::first_workspace(&app).await;
    db::insert_member(&app, "viewer@example.com", ws, Role::Viewer).await;
    let viewer = app.sign_in_as("viewer@example.com").await;

    let table = viewer.get_text("/settings/api-keys").await;
    assert_eq!(row_ids(&table), vec![id]);
    assert_eq!(cell(&table, id, "Status"), "Active");
    assert!(!table.contains("Create API key"));
    for word in ["/regenerate", "/revoke", "/delete", "data-dialog"] {
        assert!(!table.contains(word), "a viewer sees {word}");
    }
    // Only the key's history, which viewers may read.
    let doc = Html::parse_document(&table);
    let links: Vec<String> = select(&doc, &format!("tr[data-key-id=\"{id}\"] td[data-label=\"Actions\"] a"))
        .iter()
        .map(text_of)
        .collect();
    assert_eq!(links, ["History"]);
    assert_eq!(viewer.get("/settings/api-keys/new").await.status(), 403);
    for action in ["regenerate", "revoke", "delete"] {
        assert_eq!(viewer.get(&format!("/settings/api-keys/{id}/{action}")).await.status(), 403);
        let res =
            viewer.post_form("/settings/api-keys", &format!("/settings/api-keys/{id}/{action}"), &[]).await;
        assert_eq!(res.status(), 403, "viewer POST {action}");
    }
    let res = viewer
        .post_form(
            "/settings/api-keys",
            "/settings/api-keys",
            &[("name", "Mine"), ("full_access", "on"), ("expiry", "30")],
        )
        .await;
    assert_eq!(res.status(), 403);
    let (name, _, _, revoked) = db::key_row(&app, id).await.unwrap();
    assert_eq!((name.as_str(), revoked), ("Deploy bot", None));
    assert_eq!(row_ids(&web.get_text("/settings/api-keys").await), vec![id]);
    // Viewers may read the audit log.
    assert_eq!(viewer.get("/settings/audit-log").await.status(), 200);
    assert_eq!(viewer.get("/settings/audit-log.csv").await.status(), 200);

    // An empty workspace shows a viewer no Create button either.
    let other_ws = db::second_workspace(&app, "boss@example.com").await;
    db::insert_member(&app, "reader@example.com", other_ws, Role::Viewer).await;
    let reader = app.sign_in_as("reader@example.com").await;
    let html = reader.get_text("/settings/api-keys").await;
    assert!(html.contains("No API keys yet") && !html.contains("Create API key"));
}

async fn another_workspaces_key_is_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
    let mine = web.create_key("Mine", &["records:read"], "30").await.id;
    db::second_workspace(&app, "globex@example.com").await;
    let other = app.sign_in_as("globex@example.com").await;
    let theirs = other.create_key("Theirs", &["files:read"], "30").await.id;

    let table = web.get_text("/settings/api-keys").await;
    assert_eq!(row_ids(&table), vec![mine]);
    assert!(!table.contains("Theirs"));
    assert_eq!(row_ids(&other.get_text("/settings/api-keys").await), vec![theirs]);
    for action in ["reveal", "regenerate", "revoke", "delete"] {
        assert_eq!(web.get(&format!("/settings/api-keys/{theirs}/{action}")).await.status(), 404, "{action}");
    }
    for action in ["regenerate", "revoke", "delete"] {
        let res =
            web.post_form("/settings/api-keys", &format!("/settings/api-keys/{theirs}/{action}"), &[]).await;
        assert_eq!(res.status(), 404, "POST {action}");
    }
    for bad in ["abc", "0", "-1", "99999999999999999999"] {
        assert_eq!(web.get(&format!("/settings/api-keys/{bad}/revoke")).await.status(), 404, "{bad}");
    }
    let (name, _, _, revoked) = db::key_row(&app, theirs).await.unwrap();
    assert_eq!((name.as_str(), revoked), ("Theirs", None));
    assert_eq!(db::actions_for(&app, theirs).await, ["key.revealed", "key.created"]);
}
