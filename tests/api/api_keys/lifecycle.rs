//! One key's whole life through the console: the empty table, the create form, the show-once
//! reveal, the table row, regeneration, revocation and deletion, with what each leaves in the
//! database, the audit log and the verifier.

use chrono::{Days, Utc};
use keyward::keys::ApiKey;
use scraper::Html;

use super::{post_create, whoami_status};
use crate::both_backends;
use crate::helpers::db;
use crate::helpers::pages::{cell, no_store, reveal_id, row_ids, secret_on, select, text_of};
use crate::helpers::{Backend, OWNER_EMAIL, assert_is_redirect_to, spawn_app};

both_backends! {
    the_key_lifecycle_walks_from_create_to_delete,
}

async fn the_key_lifecycle_walks_from_create_to_delete(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();

    // Empty state.
    let html = web.get_text("/settings/api-keys").await;
    assert!(html.contains("<h1>API Keys</h1>"));
    assert!(html.contains("No API keys yet"));
    assert!(html.contains("href=\"/settings/api-keys/new\""));

    // Create.
    let res = post_create(
        web,
        &[
            ("name", "  Deploy bot  "),
            ("permissions", "records:read"),
            ("permissions", "files:upload"),
            ("expiry", "30"),
            ("expiry_date", ""),
            ("rate_limit_per_minute", "6000"),
            ("rate_limit_burst", "100"),
        ],
    )
    .await;
    assert!(no_store(&res), "the create response must not be cached");
    let id = reveal_id(&res);

    // Reveal, once.
    let res = web.get(&format!("/settings/api-keys/{id}/reveal")).await;
    assert_eq!(res.status(), 200);
    assert!(no_store(&res));
    let html = res.text().await.unwrap();
    let secret = secret_on(&html).expect("the key is shown");
    let key = ApiKey::parse(&secret).expect("a well-formed key");
    let doc = Html::parse_document(&html);
    assert!(select(&doc, "input#secret-key[readonly]").len() == 1);
    let copy = select(&doc, "button[data-copy-target=\"secret-key\"]");
    assert_eq!(copy.len(), 1);
    // "Copy" is what shows; the rest of its name is for screen readers.
    assert_eq!(text_of(&select(&doc, "button[data-copy-target=\"secret-key\"] .label")[0]), "Copy");
    assert_eq!(text_of(&copy[0]), "Copy the API key to the clipboard");
    assert_eq!(select(&doc, ".copy-status[role=\"status\"]").len(), 1);
    assert!(html.contains("This key will not be shown again"));
    let pre = text_of(&select(&doc, "pre")[0]);
    assert!(pre.contains(&format!("X-Api-Key: {secret}")), "{pre}");
    assert!(pre.contains(&format!("http://127.0.0.1:{}/api/v1/whoami", app.port)), "{pre}");

    // Reload: gone, masked form only.
    let res = web.get(&format!("/settings/api-keys/{id}/reveal")).await;
    assert!(no_store(&res));
    let html = res.text().await.unwrap();
    assert!(html.contains("This key can no longer be displayed"));
    assert!(html.contains(&key.masked()));
    assert!(!html.contains(&secret));
    assert_eq!(secret_on(&html), None);

    // The stored row: the hash, the trimmed name, the rule and the limit.
    let (name, hash, perms, revoked) = db::key_row(&app, id).await.unwrap();
    assert_eq!(name, "Deploy bot");
    assert_eq!(hash, key.hash().as_str());
    assert_eq!(perms, "files:upload records:read");
    assert_eq!(revoked, None);

    // The table.
    let table = web.get_text("/settings/api-keys").await;
    assert_eq!(row_ids(&table), vec![id]);
    assert!(cell(&table, id, "Name").contains("Deploy bot"));
    assert!(
        cell(&table, id, "Name").contains("Limit: 6,000 requests/min, burst 100"),
        "the key's own limits"
    );
    assert_eq!(cell(&table, id, "Key"), format!("kw_live_…{}", key.last4()));
    assert_eq!(cell(&table, id, "Status"), "Active");
    assert_eq!(cell(&table, id, "Last used"), "Never");
    let perms = cell(&table, id, "Permissions");
    // Labels, with the ids on hover.
    assert!(perms.contains("Read records") && perms.contains("Upload files"), "{perms}");
    assert!(table.contains("title=\"records:read\"") && table.contains("title=\"files:upload\""));
    // Relative, with the exact moment on hover.
    assert_eq!(cell(&table, id, "Expires"), "in 30 days");
    let in_30 = (Utc::now().naive_utc() + Days::new(30)).format("%Y-%m-%d").to_string();
    assert!(table.contains(&format!("title=\"{in_30} ")), "the exact expiry {in_30} is on hover");
    let created = cell(&table, id, "Created");
    assert!(created.contains(OWNER_EMAIL), "{created}");
    for action in ["regenerate", "revoke", "delete"] {
        let href = format!("href=\"/settings/api-keys/{id}/{action}\" data-dialog");
        assert!(table.contains(&href), "{href} missing");
    }
    assert!(table.contains("aria-label=\"Revoke key Deploy bot\""));

    // The first secret works (and, on SQLite, now sits in the verifier's cache).
    assert_eq!(whoami_status(&app, &secret).await, 200);

    // Regenerate: confirm page, then a new secret; the old hash is gone.
    let confirm = web.get_text(&format!("/settings/api-keys/{id}/regenerate")).await;
    let doc = Html::parse_document(&confirm);
    let panel = select(&doc, "section.panel[data-confirm-panel]");
    assert_eq!(panel.len(), 1);
    let panel_text = text_of(&panel[0]);
    assert!(
        panel_text.contains("Deploy bot")
            && panel_text.contains("The current secret stops working at the moment you choose")
    );
    assert!(
        confirm.contains("name=\"old_secret_stops\" value=\"now\" checked"),
        "the old secret stops now unless a grace is chosen"
    );
    assert_eq!(select(&doc, "[data-confirm-panel] a[data-cancel][href=\"/settings/api-keys\"]").len(), 1);
    assert!(confirm.contains(">Regenerate key</button>"));
    let res = web
        .post_form(
            &format!("/settings/api-keys/{id}/regenerate"),
            &format!("/settings/api-keys/{id}/regenerate"),
            &[],
        )
        .await;
    assert!(no_store(&res));
    assert_eq!(reveal_id(&res), id);
    let html = web.get_text(&format!("/settings/api-keys/{id}/reveal")).await;
    let new_secret = secret_on(&html).expect("the regenerated key is shown");
    assert_ne!(new_secret, secret);
    let (name, hash, perms, _) = db::key_row(&app, id).await.unwrap();
    assert_eq!((name.as_str(), perms.as_str()), ("Deploy bot", "files:upload records:read"));
    assert_eq!(hash, ApiKey::parse(&new_secret).unwrap().hash().as_str());
    let table = web.get_text("/settings/api-keys").await;
    assert!(
        cell(&table, id, "Name").contains("Limit: 6,000 requests/min, burst 100"),
        "kept by regeneration"
    );
    assert_ne!(hash, key.hash().as_str());
    // The old secret stops at once; the new one works.
    assert_eq!(whoami_status(&app, &secret).await, 401, "the old secret still works");
    assert_eq!(whoami_status(&app, &new_secret).await, 200);

    // Revoke: stays listed as Revoked, with when and by whom.
    let confirm = web.get_text(&format!("/settings/api-keys/{id}/revoke")).await;
    assert!(confirm.contains(">Revoke key</button>") && confirm.contains("data-confirm-panel"));
    let res = web
        .post_form(
            &format!("/settings/api-keys/{id}/revoke"),
            &format!("/settings/api-keys/{id}/revoke"),
            &[],
        )
        .await;
    assert_is_redirect_to(&res, "/settings/api-keys");
    let table = web.get_text("/settings/api-keys").await;
    assert!(table.contains("Revoked “Deploy bot”"), "flash missing");
    assert_eq!(cell(&table, id, "Status"), "Revoked");
    let name_cell = cell(&table, id, "Name");
    assert!(name_cell.contains("Revoked") && name_cell.contains(OWNER_EMAIL), "{name_cell}");
    assert!(!table.contains(&format!("/settings/api-keys/{id}/regenerate")));
    assert!(db::key_row(&app, id).await.unwrap().3.is_some());

    // Regenerating a revoked key is refused, clearly, and changes nothing.
    let confirm = web.get_text(&format!("/settings/api-keys/{id}/regenerate")).await;
    assert!(confirm.contains("is revoked, so it cannot be regenerated"));
    assert!(!confirm.contains(">Regenerate key</button>"));
    let res = web.post_form("/settings/api-keys", &format!("/settings/api-keys/{id}/regenerate"), &[]).await;
    assert_is_redirect_to(&res, "/settings/api-keys");
    assert!(web.get_text("/settings/api-keys").await.contains("is revoked, so it cannot be regenerated"));
    assert_eq!(db::key_row(&app, id).await.unwrap().1, hash);

    // Delete: the row goes, the audit trail stays.
    let confirm = web.get_text(&format!("/settings/api-keys/{id}/delete")).await;
    assert!(confirm.contains(">Delete key</button>") && confirm.contains("cannot be undone"));
    let res = web
        .post_form(
            &format!("/settings/api-keys/{id}/delete"),
            &format!("/settings/api-keys/{id}/delete"),
            &[],
        )
        .await;
    assert_is_redirect_to(&res, "/settings/api-keys");
    assert!(db::key_row(&app, id).await.is_none());
    let table = web.get_text("/settings/api-keys").await;
    assert!(row_ids(&table).is_empty());
    assert!(table.contains("Deleted “Deploy bot”"));
    assert_eq!(
        db::actions_for(&app, id).await,
        ["key.deleted", "key.revoked", "key.revealed", "key.regenerated", "key.revealed", "key.created"]
    );
    assert_eq!(web.get(&format!("/settings/api-keys/{id}/revoke")).await.status(), 404);
}
