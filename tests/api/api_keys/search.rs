//! Searching the key table by name: any case, any character taken literally, short and long
//! queries alike within pages and status tabs, and the index following every change to keys.

use chrono::{TimeDelta, Utc};
use diesel::RunQueryDsl;
use keyward::db::DbError;
use scraper::Html;

use crate::both_backends;
use crate::helpers::db;
use crate::helpers::pages::{reveal_id, row_ids, select};
use crate::helpers::{Backend, Client, TestApp, assert_is_redirect_to, spawn_app};

both_backends! {
    search_matches_any_case_and_character_literally,
    search_pages_and_filters_with_short_and_long_queries,
    search_follows_created_regenerated_and_deleted_keys,
}

async fn search_matches_any_case_and_character_literally(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
    let ws = db::first_workspace(&app).await;
    let names = [
        "Ärger Bot",
        "Ключ Доступа",
        "argentina sync",
        "100%_off",
        "1000 off",
        "back\\slash",
        "say \"hi\" now",
        "star*key",
        "plain",
    ];
    let ids = db::insert_keys(&app, ws, names.iter().map(|n| (n.to_string(), None, false)).collect()).await;
    let id = |name: &str| ids[names.iter().position(|n| *n == name).unwrap()];
    // Another workspace's key with the same words is never shown.
    let other = db::second_workspace(&app, "globex@example.com").await;
    db::insert_keys(&app, other, vec![("ärger elsewhere".into(), None, false)]).await;

    // Non-ASCII case folding, with short (1–2 characters) and trigram-length queries alike.
    for q in ["är", "Är", "ÄRG", "ärger", "GER B", "r b"] {
        assert_eq!(search(web, q).await, vec![id("Ärger Bot")], "{q:?}");
    }
    for q in ["ключ", "КЛЮЧ Д", "ДО"] {
        assert_eq!(search(web, q).await, vec![id("Ключ Доступа")], "{q:?}");
    }
    // Folding is case only: "a" does not stand for "ä".
    assert_eq!(search(web, "arge").await, vec![id("argentina sync")]);
    assert_eq!(search(web, "ar").await, vec![id("star*key"), id("argentina sync")]);
    // LIKE's metacharacters, FTS5's quote and star, all literal, short and long.
    assert_eq!(search(web, "%").await, vec![id("100%_off")]);
    assert_eq!(search(web, "_").await, vec![id("100%_off")]);
    assert_eq!(search(web, "0%_o").await, vec![id("100%_off")]);
    assert_eq!(search(web, "00 o").await, vec![id("1000 off")]);
    assert_eq!(search(web, "\\").await, vec![id("back\\slash")]);
    assert_eq!(search(web, "K\\S").await, vec![id("back\\slash")]);
    assert_eq!(search(web, "\"").await, vec![id("say \"hi\" now")]);
    assert_eq!(search(web, "\"hi\"").await, vec![id("say \"hi\" now")]);
    assert_eq!(search(web, "*").await, vec![id("star*key")]);
    assert_eq!(search(web, "r*k").await, vec![id("star*key")]);
    assert_eq!(search(web, "OFF").await, vec![id("1000 off"), id("100%_off")]);
    // Query syntax of either index is plain text: no match rather than an error or every row.
    for q in ["NEAR(a b)", "a OR b", "pla*", "^pla", "%%%", "___", "pl\u{0}ain", "plain\u{7}"] {
        let html = web.get_text(&format!("/settings/api-keys?q={}", urlencode(q))).await;
        assert!(html.contains("No matching keys"), "{q:?} matched:\n{:?}\n{html}", row_ids(&html));
    }
    // Spaces around the query are ignored; an empty query is no search.
    assert_eq!(search(web, "  plain ").await, vec![id("plain")]);
    assert_eq!(row_ids(&web.get_text("/settings/api-keys?q=+++").await).len(), names.len());
    assert_search_index_intact(&app, backend).await;
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn search_pages_and_filters_with_short_and_long_queries(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
    let ws = db::first_workspace(&app).await;
    let now = Utc::now().naive_utc();
    // 130 keys: "Deploy n" for every other one, every 4th of those revoked, every 3rd expired.
    let keys = (0..130)
        .map(|i| {
            let name = if i % 2 == 0 { format!("Deploy {i}") } else { format!("other {i}") };
            let expires = (i % 3 == 0).then(|| now - TimeDelta::hours(1));
            (name, expires, i % 8 == 0)
        })
        .collect();
    let ids = db::insert_keys(&app, ws, keys).await;
    let deploy: Vec<i64> = ids.iter().step_by(2).rev().copied().collect();
    let revoked: Vec<i64> = ids.iter().step_by(8).rev().copied().collect();
    let expired: Vec<i64> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0 && i % 3 == 0 && i % 8 != 0)
        .map(|(_, id)| *id)
        .rev()
        .collect();
    let active: Vec<i64> =
        deploy.iter().filter(|id| !revoked.contains(id) && !expired.contains(id)).copied().collect();
    assert_eq!(deploy.len(), 65);

    // A long query (trigram index) and a short one (scan) page alike: 50, then 15, newest first.
    for q in ["deploy", "DEP", "ep"] {
        let (got, pages) = all_pages(web, &format!("/settings/api-keys?q={q}")).await;
        assert_eq!((got, pages), (deploy.clone(), 2), "{q:?}");
        let page2 = web.get_text(&format!("/settings/api-keys?status=all&q={q}&page=2")).await;
        assert_eq!(row_ids(&page2), deploy[50..].to_vec(), "{q:?}");
        assert!(page2.contains(">Previous<") && !page2.contains(">Next<"));
    }
    // Search within each status tab.
    for (status, want) in [("revoked", &revoked), ("expired", &expired), ("active", &active)] {
        for q in ["ploy", "De"] {
            let (got, _) = all_pages(web, &format!("/settings/api-keys?status={status}&q={q}")).await;
            assert_eq!(&got, want, "{status} {q:?}");
        }
    }
    // A number in the name: "deploy 1" is in "deploy 1", "deploy 10", "deploy 12", …
    let ones: Vec<i64> = (0..130)
        .filter(|i| i % 2 == 0 && format!("deploy {i}").contains("deploy 1"))
        .map(|i| ids[i])
        .rev()
        .collect();
    assert_eq!(search(web, "Deploy 1").await, ones);
    assert!(ones.len() > 10);
}

async fn search_follows_created_regenerated_and_deleted_keys(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
    // Created through the form: the stored search form comes from the same code as the query's.
    let kept = web.create_key("Überweisung Sync", &["records:read"], "30").await.id;
    let gone = web.create_key("Überweisung Alt", &["records:read"], "30").await.id;
    assert_eq!(search(web, "überweisung").await, vec![gone, kept]);
    assert_eq!(search(web, "üb").await, vec![gone, kept]);

    // Regenerating keeps the name (names never change), so the key is still found.
    let res = web
        .post_form(
            &format!("/settings/api-keys/{kept}/regenerate"),
            &format!("/settings/api-keys/{kept}/regenerate"),
            &[],
        )
        .await;
    assert_eq!(reveal_id(&res), kept);
    assert_eq!(search(web, "ÜBERWEISUNG SYNC").await, vec![kept]);
    assert_search_index_intact(&app, backend).await;

    // Revoked: found in the Revoked tab only.
    web.revoke(gone).await;
    let revoked = web.get_text("/settings/api-keys?status=revoked&q=weisung").await;
    assert_eq!(row_ids(&revoked), vec![gone]);
    let active = web.get_text("/settings/api-keys?status=active&q=weisung").await;
    assert_eq!(row_ids(&active), vec![kept]);

    // Deleted: gone from every search, and a new key with the same name is found instead.
    let res = web
        .post_form(
            &format!("/settings/api-keys/{gone}/delete"),
            &format!("/settings/api-keys/{gone}/delete"),
            &[],
        )
        .await;
    assert_is_redirect_to(&res, "/settings/api-keys");
    assert!(db::key_row(&app, gone).await.is_none());
    assert_eq!(search(web, "Alt").await, Vec::<i64>::new());
    let again = web.create_key("Überweisung Alt", &["records:read"], "30").await.id;
    assert_eq!(search(web, "ung alt").await, vec![again]);
    assert_eq!(search(web, "über").await, vec![again, kept]);
    assert_search_index_intact(&app, backend).await;
}

/// The ids a search shows on its first page, newest first.
async fn search(web: &Client, query: &str) -> Vec<i64> {
    let html = web.get_text(&format!("/settings/api-keys?q={}", urlencode(query))).await;
    assert!(!html.contains(">Next<"), "{query:?} has a second page");
    row_ids(&html)
}

/// Every search's ids over all its pages, following the Next links as the browser would.
async fn all_pages(web: &Client, first: &str) -> (Vec<i64>, usize) {
    let (mut ids, mut pages, mut path) = (Vec::new(), 0, first.to_owned());
    loop {
        let html = web.get_text(&path).await;
        ids.extend(row_ids(&html));
        pages += 1;
        let doc = Html::parse_document(&html);
        let next = select(&doc, "nav.pagination a[rel=\"next\"]");
        let Some(href) = next.first().and_then(|a| a.value().attr("href")) else { break };
        path = format!("/settings/api-keys{}", href.replace("&amp;", "&"));
    }
    (ids, pages)
}

/// SQLite's full-text index must agree with the table it indexes, whatever happened to the keys.
async fn assert_search_index_intact(app: &TestApp, backend: Backend) {
    if backend != Backend::Sqlite {
        return;
    }
    app.state
        .db
        .run(|conn| -> Result<(), DbError> {
            diesel::sql_query("INSERT INTO api_keys_fts (api_keys_fts, rank) VALUES ('integrity-check', 1)")
                .execute(conn)?;
            Ok(())
        })
        .await
        .expect("the full-text index matches api_keys");
}
