//! The audit log page and its CSV download.

use chrono::{TimeDelta, Utc};
use scraper::Html;

use crate::both_backends;
use crate::helpers::pages::{select, text_of};
use crate::helpers::{Backend, OWNER_EMAIL, Revealed, db, spawn_app};

both_backends! {
    key_events_are_listed_newest_first_and_filter_by_action_and_key,
    the_key_filter_folds_any_case_and_a_key_id_picks_exactly_one_key,
    the_csv_download_has_a_header_and_neutralises_formulas,
    the_log_is_paginated_and_shows_only_this_workspace,
    a_date_range_keeps_the_days_it_names_inclusive,
}

fn actions(html: &str) -> Vec<String> {
    let doc = Html::parse_document(html);
    select(&doc, "table.audit-table td[data-label=\"Action\"]")
        .iter()
        .map(|td| td.value().attr("data-action").expect("data-action").to_owned())
        .collect()
}

/// The actions as the page writes them, in words.
fn action_words(html: &str) -> Vec<String> {
    let doc = Html::parse_document(html);
    select(&doc, "table.audit-table td[data-label=\"Action\"]").iter().map(text_of).collect()
}

async fn key_events_are_listed_newest_first_and_filter_by_action_and_key(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
    let Revealed { id, secret } = web.create_key("Deploy bot", &["records:read"], "30").await;
    web.create_key("Other", &["files:read"], "7").await;
    web.revoke(id).await;

    let html = web.get_text("/settings/audit-log").await;
    assert_eq!(
        actions(&html),
        ["key.revoked", "key.revealed", "key.created", "key.revealed", "key.created", "workspace.created"]
    );
    assert_eq!(
        action_words(&html),
        ["Key revoked", "Key revealed", "Key created", "Key revealed", "Key created", "Workspace created"]
    );
    assert!(html.contains(OWNER_EMAIL) && html.contains("Deploy bot") && html.contains("127.0.0.1"));
    assert!(!html.contains(&secret));

    let revoked = web.get_text("/settings/audit-log?action=key.revoked").await;
    assert_eq!(actions(&revoked), ["key.revoked"]);
    assert!(revoked.contains("<option value=\"key.revoked\" selected>"));
    let by_key = web.get_text("/settings/audit-log?key=deploy").await;
    assert_eq!(actions(&by_key), ["key.revoked", "key.revealed", "key.created"]);
    let both = web.get_text("/settings/audit-log?action=key.created&key=Other").await;
    assert_eq!(actions(&both), ["key.created"]);
    // An unknown action is ignored rather than matching nothing.
    assert_eq!(actions(&web.get_text("/settings/audit-log?action=bogus").await).len(), 6);
    let none = web.get_text("/settings/audit-log?key=nothing-like-this").await;
    assert!(none.contains("No events match these filters"));
}

async fn the_key_filter_folds_any_case_and_a_key_id_picks_exactly_one_key(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
    web.create_key("Ärger Deploy", &["records:read"], "30").await;
    let billing = web.create_key("Billing", &["records:read"], "30").await.id;
    let billing_v2 = web.create_key("Billing v2", &["records:read"], "30").await.id;

    // Non-ASCII names fold in any case, on SQLite too (its lower() knows only ASCII).
    for search in ["är", "ÄR", "ärger deploy", "RGER"] {
        let html = web.get_text(&format!("/settings/audit-log?key={search}")).await;
        assert_eq!(actions(&html), ["key.revealed", "key.created"], "{search}");
        assert!(html.contains("Ärger Deploy"), "{search}");
    }
    // By name, "Billing" is also part of "Billing v2"; by id, each key is on its own.
    assert_eq!(actions(&web.get_text("/settings/audit-log?key=billing").await).len(), 4);
    let only = web.get_text(&format!("/settings/audit-log?key_id={billing}")).await;
    assert_eq!(actions(&only), ["key.revealed", "key.created"]);
    assert!(!only.contains("Billing v2"), "{only}");
    let doc = Html::parse_document(&only);
    let scope = text_of(&select(&doc, "p.filter-scope")[0]);
    assert!(scope.starts_with("Showing the history of key \u{201c}Billing\u{201d} kw_live_…"), "{scope}");
    let clear = select(&doc, "p.filter-scope a");
    assert_eq!(
        (text_of(&clear[0]).as_str(), clear[0].value().attr("href")),
        ("Show all keys", Some("/settings/audit-log"))
    );
    // The filter form keeps the key while the action changes.
    let hidden = select(&doc, "form.filters input[type=\"hidden\"][name=\"key_id\"]");
    assert_eq!(hidden[0].value().attr("value"), Some(billing.to_string().as_str()));
    let v2 = web.get_text(&format!("/settings/audit-log?action=key.created&key_id={billing_v2}")).await;
    assert_eq!(actions(&v2), ["key.created"]);
    assert!(v2.contains("Billing v2"));
    let doc = Html::parse_document(&v2);
    assert_eq!(
        select(&doc, "p.filter-scope a")[0].value().attr("href"),
        Some("/settings/audit-log?action=key.created")
    );
    // The CSV follows the same filter.
    let csv = web.get_text(&format!("/settings/audit-log.csv?key_id={billing}")).await;
    assert_eq!(csv.trim_end().split("\r\n").count(), 3, "{csv}");
    assert!(!csv.contains("Billing v2"));
    // Another workspace's key, or a key with no events, shows nothing; junk ids are ignored.
    let none = web.get_text("/settings/audit-log?key_id=999999").await;
    assert!(none.contains("No events match these filters") && none.contains("#999999"));
    assert_eq!(actions(&web.get_text("/settings/audit-log?key_id=abc").await).len(), 7);

    // The key table links each key to its history.
    let table = web.get_text("/settings/api-keys").await;
    let doc = Html::parse_document(&table);
    let link =
        select(&doc, &format!("tr[data-key-id=\"{billing}\"] a[aria-label=\"History of key Billing\"]"));
    assert_eq!(link[0].value().attr("href"), Some(format!("/settings/audit-log?key_id={billing}").as_str()));
}

async fn the_csv_download_has_a_header_and_neutralises_formulas(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
    let secret =
        web.create_key("=HYPERLINK(\"http://evil.example\",\"x\")", &["records:read"], "30").await.secret;
    // Where a spreadsheet splits on `;`, an unquoted `Ops;=1+1` would become `Ops` and `=1+1`.
    web.create_key("Ops;=1+1", &["records:read"], "30").await;
    let res = web.get("/settings/audit-log.csv").await;
    assert_eq!(res.status(), 200);
    let header = |n: &str| res.headers().get(n).unwrap().to_str().unwrap().to_owned();
    let res_truncated = res.headers().get("x-keyward-truncated").cloned();
    assert!(header("content-type").starts_with("text/csv"));
    assert!(header("content-disposition").starts_with("attachment"));
    let body = res.text().await.unwrap();
    let mut lines = body.split("\r\n");
    assert_eq!(
        lines.next(),
        Some(
            "\"time_utc\",\"actor\",\"action\",\"key_name\",\"key_masked\",\"ip\",\"user_agent\",\"details\""
        )
    );
    assert!(body.contains("\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\""), "{body}");
    assert!(!body.contains(",=HYPERLINK") && !body.contains("\"=HYPERLINK"));
    // Every cell is quoted, so the `;` stays inside the name's cell whatever the separator.
    assert_eq!(body.matches(";=1+1").count(), body.matches("\"Ops;=1+1\"").count(), "{body}");
    assert_eq!(body.matches("\"Ops;=1+1\"").count(), 2, "its created and revealed events: {body}");
    for line in body.split_terminator("\r\n") {
        assert!(line.starts_with('"') && line.ends_with('"'), "an unquoted cell: {line}");
    }
    assert!(res_truncated.is_none(), "a short log is not cut");
    assert!(!body.contains(&secret));
    // Filters apply to the download too.
    let only = web.get_text("/settings/audit-log.csv?action=key.revealed").await;
    assert_eq!(only.trim_end().split("\r\n").count(), 3, "the header and two reveals: {only}");
}

async fn the_log_is_paginated_and_shows_only_this_workspace(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
    let ws = db::first_workspace(&app).await;
    let other_ws = db::second_workspace(&app, "globex@example.com").await;
    let start = Utc::now().naive_utc() - TimeDelta::hours(1);
    let mut events: Vec<_> =
        (0..70).map(|i| (ws, "member.added", format!("n{i:03}"), start + TimeDelta::seconds(i))).collect();
    events.push((other_ws, "member.added", "secret-ws".into(), start));
    db::record_audit_events(&app, "robot@example.com", events).await;
    let page1 = web.get_text("/settings/audit-log?action=member.added").await;
    assert_eq!(actions(&page1).len(), 50);
    assert!(page1.contains("n069") && !page1.contains("n019"));
    let doc = Html::parse_document(&page1);
    let next = select(&doc, "nav.pagination a[rel=\"next\"]");
    assert_eq!(next[0].value().attr("href"), Some("/settings/audit-log?action=member.added&page=2"));
    let page2 = web.get_text("/settings/audit-log?action=member.added&page=2").await;
    assert_eq!(actions(&page2).len(), 20);
    assert!(page2.contains("n000") && page2.contains(">Previous<") && !page2.contains(">Next<"));
    assert!(!web.get_text("/settings/audit-log.csv").await.contains("secret-ws"));
    let globex = app.sign_in_as("globex@example.com").await;
    let theirs = globex.get_text("/settings/audit-log").await;
    assert!(theirs.contains("secret-ws") && !theirs.contains("n000"));
}

async fn a_date_range_keeps_the_days_it_names_inclusive(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
    let today = Utc::now().naive_utc().date();
    let yesterday = today.pred_opt().unwrap();
    let tomorrow = today.succ_opt().unwrap();
    web.create_key("Today", &["records:read"], "30").await;
    // Today's events fall in [today, today] and [yesterday, tomorrow], not in [tomorrow, …].
    let day =
        |from: chrono::NaiveDate, to: chrono::NaiveDate| format!("/settings/audit-log?from={from}&to={to}");
    let all = actions(&web.get_text("/settings/audit-log").await).len();
    assert!(all >= 3);
    assert_eq!(actions(&web.get_text(&day(today, today)).await).len(), all);
    assert_eq!(actions(&web.get_text(&day(yesterday, tomorrow)).await).len(), all);
    let later = web.get_text(&format!("/settings/audit-log?from={tomorrow}")).await;
    assert!(actions(&later).is_empty());
    assert!(later.contains("No events match these filters"));
    let earlier = web.get_text(&format!("/settings/audit-log?to={yesterday}")).await;
    assert!(actions(&earlier).is_empty());
    // The range is kept in the CSV link and the fields.
    let html = web.get_text(&day(yesterday, tomorrow)).await;
    let doc = Html::parse_document(&html);
    let csv_link = select(&doc, "a[download]");
    let want = format!("/settings/audit-log.csv?from={yesterday}&to={tomorrow}");
    assert_eq!(csv_link[0].value().attr("href"), Some(want.as_str()));
    assert_eq!(select(&doc, &format!("input#from[value=\"{yesterday}\"]")).len(), 1);
    let csv = web.get_text(&format!("/settings/audit-log.csv?from={tomorrow}")).await;
    assert_eq!(csv.lines().count(), 1, "only the header: {csv}");
    // A bad day or a reversed range is said beside its field and left out, not guessed.
    let bad = web.get_text("/settings/audit-log?from=31/12/2026").await;
    assert!(bad.contains("id=\"from-error\""), "{bad}");
    assert_eq!(actions(&bad).len(), all);
    let reversed = web.get_text(&day(tomorrow, yesterday)).await;
    assert!(reversed.contains("The last day comes before the first"), "{reversed}");
    assert!(actions(&reversed).is_empty(), "from tomorrow on, nothing");
}
