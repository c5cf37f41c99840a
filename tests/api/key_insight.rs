//! What a key did: its page counts every verifier request by UTC day and denial code, exactly,
//! across a graceful restart; lists the client addresses it was last presented from; usage past
//! 400 days is cleaned up; and the figures above the key table filter it.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{NaiveDate, TimeDelta, Utc};
use keyward::config::{Settings, TrustedProxies};
use scraper::{Html, Selector};

use crate::both_backends;
use crate::helpers::db::{
    KeyAt, client_addresses_of, first_workspace, insert_key_at, insert_keys, revoke_key, second_workspace,
    seed_client_address, seed_usage_day, set_allowed_ips, set_key_limits, set_key_times, usage_days_of,
};
use crate::helpers::pages::row_ids;
use crate::helpers::{Backend, Client, OWNER_EMAIL, OWNER_PASSWORD, TestApp, spawn_another, spawn_app_with};

both_backends! {
    the_key_page_counts_every_request_by_day_and_code_and_a_restart_loses_nothing,
    the_key_page_lists_the_last_five_client_addresses_newest_first,
    usage_older_than_400_days_is_cleaned_up,
    the_insight_figures_filter_the_table,
    the_figures_stop_counting_past_a_thousand,
    another_workspaces_key_page_is_not_found_and_a_viewer_sees_the_page,
}

/// Nothing is flushed on its own during a test: only the explicit flushes and the shutdown's.
fn no_background_flush(s: &mut Settings) {
    s.usage_flush_interval = Duration::from_secs(3600);
}

/// Asks forward-auth about `secret` (with a required permission and a forwarded address when
/// given); returns the status and the refusal's code (`""` when allowed).
async fn auth(client: &Client, secret: &str, require: Option<&str>, from: Option<&str>) -> (u16, String) {
    let mut req = client.get_request("/api/v1/auth").header("X-Api-Key", secret);
    if let Some(r) = require {
        req = req.header("X-Keyward-Require", r);
    }
    if let Some(ip) = from {
        req = req.header("X-Forwarded-For", ip);
    }
    let res = req.send().await.unwrap();
    let code =
        res.headers().get("x-keyward-error").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (res.status().as_u16(), code)
}

/// Makes `n` requests that must all end with `want` (`""`: allowed).
async fn expect(client: &Client, secret: &str, require: Option<&str>, n: usize, want: &str) {
    for i in 0..n {
        let (status, code) = auth(client, secret, require, None).await;
        assert_eq!(code, want, "request {i} of {n}: status {status}");
    }
}

async fn flush(app: &TestApp) {
    app.verifier.clone().into_inner().flush_now().await;
}

/// The figures a key's page shows.
#[derive(Debug, Default, PartialEq, Eq)]
struct Figures {
    /// (allowed, denied) per day shown, `YYYY-MM-DD`.
    days: BTreeMap<String, (i64, i64)>,
    total: (i64, i64),
    /// Requests per denial code over the 30 days.
    codes: BTreeMap<String, i64>,
    addresses: Vec<String>,
}

fn sel(css: &str) -> Selector {
    Selector::parse(css).unwrap()
}

fn number(row: &scraper::ElementRef<'_>, label: &str) -> i64 {
    let cell = row.select(&sel(&format!("td[data-label=\"{label}\"]"))).next().expect(label);
    cell.text().collect::<String>().trim().parse().unwrap()
}

fn figures(html: &str) -> Figures {
    let doc = Html::parse_document(html);
    let mut f = Figures::default();
    for row in doc.select(&sel("#usage-days tr[data-day]")) {
        let day = row.value().attr("data-day").unwrap().to_owned();
        let pair = (number(&row, "Allowed"), number(&row, "Denied"));
        if day == "total" {
            f.total = pair;
        } else {
            f.days.insert(day, pair);
        }
    }
    for row in doc.select(&sel("#denials-by-code tr[data-code]")) {
        f.codes.insert(row.value().attr("data-code").unwrap().to_owned(), number(&row, "Requests"));
    }
    f.addresses = doc
        .select(&sel("#client-addresses .client-ip"))
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .collect();
    f
}

/// The page's figures, checked against what was made: every other day and code is zero.
#[track_caller]
fn assert_figures(f: &Figures, days: &[(NaiveDate, i64, i64)], codes: &[(&str, i64)]) {
    assert_eq!(f.days.len(), 30, "30 days shown: {f:?}");
    for (day, shown) in &f.days {
        let want = days.iter().find(|(d, _, _)| d.to_string() == *day).map_or((0, 0), |(_, a, x)| (*a, *x));
        assert_eq!(*shown, want, "day {day}");
    }
    let total = days.iter().fold((0, 0), |(a, x), (_, da, dx)| (a + da, x + dx));
    assert_eq!(f.total, total, "30-day totals");
    let all = [
        "revoked_key",
        "expired_key",
        "disabled_key",
        "insufficient_permission",
        "rate_limited",
        "ip_not_allowed",
        "other",
    ];
    assert_eq!(f.codes.len(), all.len(), "every code listed: {:?}", f.codes);
    for code in all {
        let want = codes.iter().find(|(c, _)| *c == code).map_or(0, |(_, n)| *n);
        assert_eq!(f.codes[code], want, "code {code}");
    }
    assert_eq!(f.codes.values().sum::<i64>(), total.1, "the codes add up to the denied total");
}

async fn the_key_page_counts_every_request_by_day_and_code_and_a_restart_loses_nothing(backend: Backend) {
    let app = spawn_app_with(backend, no_background_flush).await;
    app.setup_owner().await;
    let owner = app.client();
    let k = owner.create_key("Reporting", &["records:read"], "30").await;
    let r = owner.create_key("Retired", &["records:read"], "30").await;
    // Three requests at once, then one every 20 seconds: the fourth quick one is refused.
    set_key_limits(&app, k.id, 3, 3).await;
    let today = Utc::now().date_naive();
    let earlier = today - TimeDelta::days(3);
    // A day an earlier flush wrote: 7 allowed, 2 lacking a permission.
    seed_usage_day(&app, k.id, earlier, 7, 2).await;

    expect(owner, &k.secret, Some("records:write"), 2, "insufficient_permission").await;
    owner.action(&format!("/settings/api-keys/{}/disable", k.id), &[]).await;
    expect(owner, &k.secret, None, 2, "disabled_key").await;
    owner.action(&format!("/settings/api-keys/{}/enable", k.id), &[]).await;
    // Outside its allowlist: refused before the rate limit, so the allowance stays whole.
    set_allowed_ips(&app, k.id, Some("10.0.0.0/8")).await;
    expect(owner, &k.secret, None, 3, "ip_not_allowed").await;
    set_allowed_ips(&app, k.id, None).await;
    expect(owner, &k.secret, Some("records:read"), 3, "").await;
    expect(owner, &k.secret, None, 2, "rate_limited").await;

    expect(owner, &r.secret, None, 2, "").await;
    // The replaced secret after its grace period: no longer the key's, counted as "other".
    let replaced = owner.regenerate_with_grace(r.id, "1h").await;
    let now = Utc::now().naive_utc();
    set_key_times(&app, r.id, None, Some(now - TimeDelta::minutes(1))).await;
    expect(owner, &r.secret, None, 1, "unknown_key").await;
    set_key_times(&app, r.id, Some(Some(now - TimeDelta::minutes(1))), None).await;
    expect(owner, &replaced.secret, None, 2, "expired_key").await;
    revoke_key(&app, r.id).await;
    expect(owner, &replaced.secret, None, 1, "revoked_key").await;

    flush(&app).await;
    let page_k = figures(&owner.get_text(&format!("/settings/api-keys/{}", k.id)).await);
    assert_figures(
        &page_k,
        &[(today, 3, 9), (earlier, 7, 2)],
        &[("insufficient_permission", 4), ("disabled_key", 2), ("ip_not_allowed", 3), ("rate_limited", 2)],
    );
    assert_eq!(page_k.addresses, ["127.0.0.1"], "allowed and refused requests came from here");
    let page_r = figures(&owner.get_text(&format!("/settings/api-keys/{}", r.id)).await);
    assert_figures(&page_r, &[(today, 2, 4)], &[("other", 1), ("expired_key", 2), ("revoked_key", 1)]);

    // Counted but not flushed yet: the graceful stop writes them, once.
    expect(owner, &replaced.secret, None, 3, "revoked_key").await;
    expect(owner, &k.secret, Some("records:write"), 1, "insufficient_permission").await;
    app.stop().await;
    let again = spawn_another(&app, no_background_flush).await;
    let owner = again.new_client();
    assert_eq!(owner.sign_in(OWNER_EMAIL, OWNER_PASSWORD).await.status(), 303);
    let page_k = figures(&owner.get_text(&format!("/settings/api-keys/{}", k.id)).await);
    assert_figures(
        &page_k,
        &[(today, 3, 10), (earlier, 7, 2)],
        &[("insufficient_permission", 5), ("disabled_key", 2), ("ip_not_allowed", 3), ("rate_limited", 2)],
    );
    let page_r = figures(&owner.get_text(&format!("/settings/api-keys/{}", r.id)).await);
    assert_figures(&page_r, &[(today, 2, 7)], &[("other", 1), ("expired_key", 2), ("revoked_key", 4)]);
    // A flush with nothing new adds nothing.
    flush(&again).await;
    assert_eq!(figures(&owner.get_text(&format!("/settings/api-keys/{}", r.id)).await), page_r);
    drop(owner);
    again.stop().await;
}

async fn the_key_page_lists_the_last_five_client_addresses_newest_first(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.trusted_proxies = TrustedProxies::parse("127.0.0.1, ::1").unwrap();
        no_background_flush(s);
    })
    .await;
    app.setup_owner().await;
    let owner = app.client();
    let k = owner.create_key("Edge", &["records:read"], "30").await;
    let from = |i: usize| format!("203.0.113.{i}");
    for i in 1..=7 {
        assert_eq!(auth(owner, &k.secret, None, Some(&from(i))).await.0, 200);
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    // An early address comes back; a refused request counts as well.
    assert_eq!(auth(owner, &k.secret, None, Some(&from(2))).await.0, 200);
    tokio::time::sleep(Duration::from_millis(15)).await;
    assert_eq!(auth(owner, &k.secret, Some("records:write"), Some("198.51.100.9")).await.0, 403);
    flush(&app).await;
    let page = figures(&owner.get_text(&format!("/settings/api-keys/{}", k.id)).await);
    assert_eq!(page.addresses, ["198.51.100.9", &from(2), &from(7), &from(6), &from(5)]);
    assert_eq!(client_addresses_of(&app, k.id).await.len(), 8);

    // Many more addresses over a few flushes: the 20 most recent are kept.
    for batch in 0..3 {
        for i in 0..10 {
            auth(owner, &k.secret, None, Some(&format!("192.0.2.{}", batch * 10 + i))).await;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        flush(&app).await;
    }
    let kept = client_addresses_of(&app, k.id).await;
    assert_eq!(kept.len(), 20, "{kept:?}");
    assert_eq!(kept[0].0, "192.0.2.29");
    assert!(kept.iter().all(|(ip, _)| ip.starts_with("192.0.2.")), "the oldest went: {kept:?}");
}

async fn usage_older_than_400_days_is_cleaned_up(backend: Backend) {
    let app = spawn_app_with(backend, no_background_flush).await;
    app.setup_owner().await;
    let k = app.client().create_key("Archive", &["records:read"], "30").await;
    let now = Utc::now().naive_utc();
    let today = now.date();
    seed_usage_day(&app, k.id, today - TimeDelta::days(401), 5, 0).await;
    seed_usage_day(&app, k.id, today - TimeDelta::days(399), 4, 0).await;
    seed_client_address(&app, k.id, "192.0.2.1", now - TimeDelta::days(401)).await;
    seed_client_address(&app, k.id, "192.0.2.2", now - TimeDelta::days(399)).await;

    let removed = keyward::lifecycle::retention::run(&app.state.db, now).await.unwrap();
    assert_eq!((removed.days, removed.addresses), (1, 1));
    assert_eq!(usage_days_of(&app, k.id).await, [today - TimeDelta::days(399)]);
    let kept: Vec<String> = client_addresses_of(&app, k.id).await.into_iter().map(|(ip, _)| ip).collect();
    assert_eq!(kept, ["192.0.2.2"]);
    // Again (another instance, the next day's run): nothing more goes.
    let again = keyward::lifecycle::retention::run(&app.state.db, now).await.unwrap();
    assert_eq!((again.days, again.addresses), (0, 0));
}

/// The count each insight figure shows above the table.
fn insight_counts(html: &str) -> BTreeMap<String, i64> {
    let doc = Html::parse_document(html);
    doc.select(&sel("a[data-insight]"))
        .map(|a| {
            let count = a.select(&sel(".insight-count")).next().unwrap().text().collect::<String>();
            (a.value().attr("data-insight").unwrap().to_owned(), count.trim().parse().unwrap())
        })
        .collect()
}

async fn the_insight_figures_filter_the_table(backend: Backend) {
    let app = spawn_app_with(backend, no_background_flush).await;
    app.setup_owner().await;
    let ws = first_workspace(&app).await;
    let now = Utc::now().naive_utc();
    let today = now.date();
    let days = TimeDelta::days;
    let recent = Some(now - TimeDelta::hours(1));
    let key = |name, created: TimeDelta, expires: Option<TimeDelta>, used: Option<TimeDelta>| KeyAt {
        name,
        created_at: now - created,
        expires_at: expires.map(|e| now + e),
        last_used_at: used.map(|u| now - u),
        revoked: false,
    };
    let old_unused = insert_key_at(&app, ws, key("Old unused", days(40), Some(days(60)), None)).await;
    let used_long_ago =
        insert_key_at(&app, ws, key("Used long ago", days(100), Some(days(60)), Some(days(31)))).await;
    let expiring = insert_key_at(&app, ws, key("Expiring soon", days(1), Some(days(3)), None)).await;
    let forever = insert_key_at(&app, ws, key("Forever", days(1), None, None)).await;
    let busy =
        insert_key_at(&app, ws, KeyAt { last_used_at: recent, ..key("Busy", days(1), Some(days(60)), None) })
            .await;
    let quiet = insert_key_at(&app, ws, key("Quiet", days(1), Some(days(60)), None)).await;
    let gone = insert_key_at(&app, ws, KeyAt { revoked: true, ..key("Gone", days(40), None, None) }).await;
    let last_month = insert_key_at(&app, ws, key("Last month", days(1), Some(days(60)), None)).await;
    seed_usage_day(&app, busy, today, 100, 5).await;
    seed_usage_day(&app, quiet, today - days(3), 5, 0).await;
    seed_usage_day(&app, last_month, today - days(10), 500, 0).await;
    let owner = app.client();

    let all = owner.get_text("/settings/api-keys").await;
    let counts = insight_counts(&all);
    let want: BTreeMap<String, i64> = [("stale", 2), ("expiring", 1), ("no_expiry", 1), ("busiest", 2)]
        .map(|(k, n)| (k.to_owned(), n))
        .into();
    assert_eq!(counts, want);
    assert_eq!(row_ids(&all).len(), 8);
    assert!(!all.contains("filter-chip"), "no filter, no chip");
    assert!(all.contains(&format!("href=\"/settings/api-keys/{busy}\"")), "names link to their page");
    // The banner says the same as the expiring figure, and leads to it.
    assert!(all.contains("<strong>1 key expires this week.</strong>"), "the banner");
    assert!(
        all.contains("<a href=\"?status=all&#38;insight=expiring\">Show it</a>"),
        "the banner links to its keys"
    );

    let view = |q: &'static str| async move { owner.get_text(&format!("/settings/api-keys?{q}")).await };
    let stale = view("status=all&insight=stale").await;
    assert_eq!(row_ids(&stale), [used_long_ago, old_unused], "newest first");
    assert!(stale.contains("filter-chip") && stale.contains("Stale (unused 30+ days)"));
    assert!(stale.contains("href=\"?status=all\""), "the chip clears the filter");
    assert!(stale.contains("href=\"?status=active&#38;insight=stale\""), "tabs keep the filter");
    assert!(stale.contains("name=\"insight\" value=\"stale\""), "the search keeps the filter");
    assert_eq!(insight_counts(&stale), want, "the figures stay workspace-wide");
    assert_eq!(row_ids(&view("status=all&insight=expiring").await), [expiring]);
    assert_eq!(row_ids(&view("status=all&insight=no_expiry").await), [forever]);
    assert_eq!(row_ids(&view("status=all&insight=busiest").await), [busy, quiet], "busiest first");
    assert!(view("status=all&insight=busiest").await.contains("105 requests this week"));
    // With the search and the tabs.
    assert_eq!(row_ids(&view("status=all&insight=stale&q=long").await), [used_long_ago]);
    assert_eq!(row_ids(&view("status=active&insight=busiest").await), [busy, quiet]);
    assert!(row_ids(&view("status=revoked&insight=no_expiry").await).is_empty());
    assert_eq!(row_ids(&view("status=revoked").await), [gone]);
    // A mangled filter shows the whole table.
    assert_eq!(row_ids(&view("status=all&insight=bogus").await).len(), 8);
}

async fn the_figures_stop_counting_past_a_thousand(backend: Backend) {
    let app = spawn_app_with(backend, no_background_flush).await;
    app.setup_owner().await;
    let ws = first_workspace(&app).await;
    insert_keys(&app, ws, (0..1001).map(|i| (format!("Fleet {i}"), None, false)).collect()).await;
    let html = app.client().get_text("/settings/api-keys").await;
    let doc = Html::parse_document(&html);
    let shown = |f: &str| {
        let css = format!("a[data-insight=\"{f}\"] .insight-count");
        doc.select(&sel(&css)).next().unwrap().text().collect::<String>()
    };
    assert_eq!(shown("no_expiry"), "1000+", "bounded: the walk stops after 1,001 keys");
    assert_eq!(shown("expiring"), "0");
    // The filter itself still pages through every key.
    assert!(
        app.client()
            .get_text("/settings/api-keys?status=all&insight=no_expiry&page=21")
            .await
            .contains("Fleet 0")
    );
}

async fn another_workspaces_key_page_is_not_found_and_a_viewer_sees_the_page(backend: Backend) {
    let app = spawn_app_with(backend, no_background_flush).await;
    app.setup_owner().await;
    let owner = app.client();
    let k = owner.create_key("Shared key", &["records:read"], "30").await;
    let page = owner.get_text(&format!("/settings/api-keys/{}", k.id)).await;
    assert!(page.contains("Shared key") && page.contains(&format!("/settings/api-keys/{}/edit", k.id)));
    assert!(page.contains("role=\"img\"") && page.contains("usage-chart-title"));
    assert!(page.contains(&format!("/settings/audit-log?key_id={}", k.id)));
    assert!(page.contains("data-action=\"key.created\""), "the history lists the creation");
    assert_eq!(owner.get("/settings/api-keys/new").await.status(), 200, "the create form still answers");

    let globex = second_workspace(&app, "globex@example.com").await;
    let now = Utc::now().naive_utc();
    let theirs = insert_key_at(
        &app,
        globex,
        KeyAt { name: "Theirs", created_at: now, expires_at: None, last_used_at: None, revoked: false },
    )
    .await;
    assert_eq!(owner.get(&format!("/settings/api-keys/{theirs}")).await.status(), 404);
    assert_eq!(owner.get("/settings/api-keys/99999999").await.status(), 404);
    assert_eq!(owner.get("/settings/api-keys/abc").await.status(), 404);

    let viewer = app.add_member("viewer@example.com", "viewer").await;
    let res = viewer.get(&format!("/settings/api-keys/{}", k.id)).await;
    assert_eq!(res.status(), 200);
    let seen = res.text().await.unwrap();
    assert!(seen.contains("Shared key"));
    assert!(!seen.contains(&format!("/settings/api-keys/{}/edit", k.id)), "no actions for a viewer");
}
