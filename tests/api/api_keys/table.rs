//! The key table: newest first, status tabs, pages of 50, and what each row shows (usage,
//! expiry, permissions).

use chrono::{TimeDelta, Utc};
use scraper::Html;

use super::post_create;
use crate::both_backends;
use crate::helpers::db;
use crate::helpers::pages::{cell, reveal_id, row_ids, select, text_of};
use crate::helpers::{Backend, spawn_app};

both_backends! {
    filters_search_and_pagination_work_newest_first,
    the_table_shows_usage_expiry_and_full_access,
}

async fn filters_search_and_pagination_work_newest_first(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
    let ws = db::first_workspace(&app).await;
    let now = Utc::now().naive_utc();
    let keys = (0..120)
        .map(|i| {
            let expires =
                if i % 10 == 1 { Some(now - TimeDelta::hours(1)) } else { Some(now + TimeDelta::days(30)) };
            let name = if i % 7 == 0 { format!("Alpha service {i}") } else { format!("key {i}") };
            (name, expires, i % 10 == 2)
        })
        .collect();
    let ids = db::insert_keys(&app, ws, keys).await;
    db::insert_keys(&app, ws, vec![("100%_off".into(), None, false)]).await;

    let page1 = web.get_text("/settings/api-keys").await;
    let got = row_ids(&page1);
    assert_eq!(got.len(), 50);
    assert!(got.windows(2).all(|w| w[0] > w[1]), "newest first");
    let doc = Html::parse_document(&page1);
    let next = select(&doc, "nav.pagination a[rel=\"next\"]");
    assert_eq!(text_of(&next[0]), "Next");
    assert_eq!(next[0].value().attr("href"), Some("?status=all&page=2"));
    assert!(!page1.contains(">Previous<"));
    let page3 = web.get_text("/settings/api-keys?status=all&page=3").await;
    assert_eq!(row_ids(&page3).len(), 21);
    assert!(page3.contains(">Previous<") && !page3.contains(">Next<"));
    assert_eq!(*row_ids(&page3).last().unwrap(), ids[0]);

    let count = |status: &str| {
        let web = &web;
        let status = status.to_owned();
        async move {
            let mut total = 0;
            for page in 1..=3 {
                let html = web.get_text(&format!("/settings/api-keys?status={status}&page={page}")).await;
                total += row_ids(&html).len();
            }
            total
        }
    };
    assert_eq!(count("revoked").await, 12);
    assert_eq!(count("expired").await, 12);
    assert_eq!(count("active").await, 97);
    let revoked = web.get_text("/settings/api-keys?status=revoked").await;
    assert!(row_ids(&revoked).iter().all(|id| cell(&revoked, *id, "Status") == "Revoked"));
    assert!(revoked.contains("href=\"?status=revoked\" aria-current=\"page\""));
    let expired = web.get_text("/settings/api-keys?status=expired").await;
    assert!(row_ids(&expired).iter().all(|id| cell(&expired, *id, "Status") == "Expired"));

    // Search: case-insensitive substring; % and _ are literal.
    let found = web.get_text("/settings/api-keys?q=ALPHA").await;
    assert_eq!(row_ids(&found).len(), 18);
    assert!(found.contains("value=\"ALPHA\""));
    let literal = web.get_text("/settings/api-keys?q=0%25_").await;
    assert_eq!(row_ids(&literal).len(), 1);
    let none = web.get_text("/settings/api-keys?q=zzz").await;
    assert!(none.contains("No matching keys") && !none.contains("No API keys yet"));
    // Search combines with the status tab.
    let both = web.get_text("/settings/api-keys?status=revoked&q=alpha").await;
    assert!(row_ids(&both).iter().all(|id| cell(&both, *id, "Status") == "Revoked"));
    assert_eq!(row_ids(&both).len(), 2);
}

async fn the_table_shows_usage_expiry_and_full_access(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
    let used = web.create_key("Used", &["records:read"], "7").await.id;
    let never = web.create_key("Forever", &["files:read"], "never").await.id;
    let res = post_create(
        web,
        &[("name", "Root"), ("full_access", "on"), ("permissions", "files:read"), ("expiry", "90")],
    )
    .await;
    let root = reveal_id(&res);
    let three_hours_ago = Utc::now().naive_utc() - TimeDelta::hours(3);
    db::set_last_used(&app, used, three_hours_ago, "203.0.113.9").await;
    let table = web.get_text("/settings/api-keys").await;
    assert_eq!(row_ids(&table), vec![root, never, used]);
    let doc = Html::parse_document(&table);
    let time = select(&doc, &format!("tr[data-key-id=\"{used}\"] td[data-label=\"Last used\"] time"));
    assert_eq!(text_of(&time[0]), "3 hours ago");
    let exact = three_hours_ago.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    assert_eq!(time[0].value().attr("title"), Some(exact.as_str()));
    assert!(time[0].value().attr("datetime").unwrap().ends_with('Z'));
    assert!(cell(&table, used, "Last used").contains("203.0.113.9"));
    // Within 7 days: highlighted, in words.
    let soon = select(&doc, &format!("tr[data-key-id=\"{used}\"] td[data-label=\"Expires\"] .soon"));
    assert!(text_of(&soon[0]).contains("in 7 days"), "{}", text_of(&soon[0]));
    assert!(select(&doc, &format!("tr[data-key-id=\"{root}\"] .soon")).is_empty());
    assert_eq!(cell(&table, never, "Expires"), "⚠ Never");
    assert_eq!(cell(&table, root, "Permissions"), "Full access");
    // "Full access" wins over single boxes.
    assert_eq!(db::key_row(&app, root).await.unwrap().2, "*");
}
