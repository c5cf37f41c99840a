//! Where and as what a key may be used: IP allowlists (set on the create and edit forms,
//! checked by every verifier endpoint after the key's own checks and before its rate limit,
//! behind a trusted proxy too) and test keys (`kw_test_`, told to services as
//! `environment: test` and `X-Keyward-Environment`). The test client connects from 127.0.0.1
//! (or `::1` for the IPv6 test).

use std::time::Duration;

use reqwest::Response;
use scraper::Html;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::client::input_value;
use crate::helpers::db::{SeedKey, access_of, audit_details, seed_key, set_allowed_ips, usage_of};
use crate::helpers::pages::{cell, row_ids, select, text_of};
use crate::helpers::{Backend, Client, TestApp, ipv6_loopback, spawn_app, spawn_app_with};
use crate::proxy::{Stage, nginx, refused, through};

both_backends! {
    an_allowlisted_key_is_refused_elsewhere_until_its_list_names_the_client,
    malformed_ranges_are_shown_beside_the_field_and_nothing_is_saved,
    the_verify_endpoint_checks_the_address_it_is_given,
    an_allowlist_refusal_is_counted_as_denied_and_leaves_the_rate_allowance,
    over_ipv6_the_loopback_address_is_checked_against_the_list,
    a_test_key_says_so_to_every_endpoint_and_in_the_table,
}

// ---------------------------------------------------------------- helpers

/// Creates a key through the console form (records:read, 30 days, plus `extra` fields) and
/// reads its secret off the reveal page: (id, secret).
async fn create(web: &Client, name: &str, extra: &[(&str, &str)]) -> (i64, String) {
    let mut fields = vec![("name", name), ("permissions", "records:read"), ("expiry", "30")];
    fields.extend_from_slice(extra);
    let res = web.post_form("/settings/api-keys/new", "/settings/api-keys", &fields).await;
    assert_eq!(res.status(), 303, "create {name}: {}", res.text().await.unwrap());
    let reveal = res.headers()["location"].to_str().unwrap().to_owned();
    let id: i64 =
        reveal.trim_start_matches("/settings/api-keys/").split('/').next().unwrap().parse().unwrap();
    let html = web.get_text(&reveal).await;
    let secret = input_value(&html, "secret-key").expect("the reveal page shows the key");
    (id, secret)
}

/// Posts the edit form of key `id` with its name, records:read and `allowed`.
async fn edit_allowlist(web: &Client, id: i64, name: &str, allowed: &str) -> Response {
    let page = format!("/settings/api-keys/{id}/edit");
    let fields = [("name", name), ("permissions", "records:read"), ("allowed_ips", allowed)];
    web.post_form(&page, &page, &fields).await
}

async fn auth(app: &TestApp, secret: &str) -> Response {
    app.client().get_request("/api/v1/auth").header("X-Api-Key", secret).send().await.unwrap()
}

async fn whoami(app: &TestApp, secret: &str) -> Response {
    app.client().get_request("/api/v1/whoami").header("X-Api-Key", secret).send().await.unwrap()
}

async fn verify(app: &TestApp, body: Value) -> Response {
    app.client().post_request("/api/v1/keys/verify").json(&body).send().await.unwrap()
}

fn header<'a>(res: &'a Response, name: &str) -> Option<&'a str> {
    res.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The text of the first element matching `css`.
fn text_at(html: &str, css: &str) -> Option<String> {
    let doc = Html::parse_document(html);
    select(&doc, css).first().map(text_of)
}

/// A textarea's content as sent, line breaks included.
fn textarea(html: &str, id: &str) -> Option<String> {
    let doc = Html::parse_document(html);
    select(&doc, &format!("textarea#{id}")).first().map(|el| el.text().collect())
}

/// Asserts a 403 `ip_not_allowed` naming `ip`, with its forward-auth headers when `auth`.
async fn assert_ip_refused(res: Response, ip: &str, auth: bool) {
    assert_eq!(res.status(), 403);
    if auth {
        assert_eq!(header(&res, "x-keyward-error"), Some("ip_not_allowed"));
    }
    assert_eq!(header(&res, "x-keyward-environment"), None, "a refusal tells no environment");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "ip_not_allowed", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("may not be used from {ip}")), "{message}");
}

// ---------------------------------------------------------------- IP allowlists

async fn an_allowlisted_key_is_refused_elsewhere_until_its_list_names_the_client(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
    let (id, secret) = create(web, "Office only", &[("allowed_ips", "10.0.0.0/8")]).await;
    assert_eq!(access_of(&app, id).await.0.as_deref(), Some("10.0.0.0/8"));

    // From 127.0.0.1: refused by every endpoint, after the key was found good.
    assert_ip_refused(auth(&app, &secret).await, "127.0.0.1", true).await;
    assert_ip_refused(whoami(&app, &secret).await, "127.0.0.1", false).await;
    let res = verify(&app, json!({ "key": secret })).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "x-keyward-environment"), None);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["valid"], false);
    assert_eq!(body["code"], "ip_not_allowed");
    // Like a revoked or unknown key: the code, never whose key it is.
    for hidden in ["key_id", "workspace_id", "name", "permissions", "environment"] {
        assert!(body.get(hidden).is_none(), "{hidden} told for a key used from elsewhere: {body}");
    }
    // A key refused for its address is still refused for what it lacks first.
    let res = app
        .client()
        .get_request("/api/v1/auth")
        .header("X-Api-Key", &secret)
        .header("X-Keyward-Require", "records:write")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&res, "x-keyward-error"), Some("insufficient_permission"));

    // The table says the key has a list; the edit form shows it.
    let table = web.get_text("/settings/api-keys").await;
    assert!(cell(&table, id, "Name").contains("IP: 1 range"), "{}", cell(&table, id, "Name"));
    let form = web.get_text(&format!("/settings/api-keys/{id}/edit")).await;
    assert_eq!(textarea(&form, "allowed_ips").as_deref(), Some("10.0.0.0/8"));

    // Add this client's address through the form: the very next request is let in.
    let ws = crate::helpers::db::first_workspace(&app).await;
    crate::helpers::db::insert_webhook_endpoint(&app, ws, "key.updated").await;
    let res = edit_allowlist(web, id, "Office only", "10.0.0.0/8\n127.0.0.1").await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let res = auth(&app, &secret).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "x-keyward-environment"), Some("live"));
    assert_eq!(whoami(&app, &secret).await.status(), 200);
    let details = audit_details(&app, id, "key.updated").await.expect("the edit is audited");
    assert_eq!(details, "IP allowlist: 10.0.0.0/8 \u{2192} 10.0.0.0/8, 127.0.0.1/32");
    // Its webhook event lists what changed, and the key as it now stands.
    let events = crate::helpers::db::webhook_events(&app).await;
    let (kind, payload) = events.last().expect("a key.updated event");
    assert_eq!(kind, "key.updated");
    let data: Value = serde_json::from_str(payload).unwrap();
    assert_eq!(
        data["data"]["changes"],
        json!({ "allowed_ips": { "from": ["10.0.0.0/8"], "to": ["10.0.0.0/8", "127.0.0.1/32"] } }),
        "{data}"
    );
    assert_eq!(data["data"]["key"]["allowed_ips"], json!(["10.0.0.0/8", "127.0.0.1/32"]));
    assert_eq!(data["data"]["key"]["environment"], "live");
    let table = web.get_text("/settings/api-keys").await;
    assert!(cell(&table, id, "Name").contains("IP: 2 ranges"), "{}", cell(&table, id, "Name"));

    // Narrowed again: refused on the next request; emptied: usable from anywhere.
    assert_eq!(edit_allowlist(web, id, "Office only", "192.0.2.0/24").await.status(), 303);
    assert_ip_refused(auth(&app, &secret).await, "127.0.0.1", true).await;
    assert_eq!(edit_allowlist(web, id, "Office only", "").await.status(), 303);
    assert_eq!(access_of(&app, id).await.0, None);
    assert_eq!(auth(&app, &secret).await.status(), 200);
    let details = audit_details(&app, id, "key.updated").await.unwrap();
    assert_eq!(details, "IP allowlist: 192.0.2.0/24 \u{2192} any address");
    let table = web.get_text("/settings/api-keys").await;
    assert!(!cell(&table, id, "Name").contains("IP:"), "{}", cell(&table, id, "Name"));
}

async fn malformed_ranges_are_shown_beside_the_field_and_nothing_is_saved(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
    let cases = [
        ("10.0.0.0/8\n10.0.0.0/33", "\u{201c}10.0.0.0/33\u{201d} is not an IP address or CIDR range."),
        ("203.0.113.7, example.com", "\u{201c}example.com\u{201d} is not an IP address or CIDR range."),
        (
            "10.0.0.1/8",
            "\u{201c}10.0.0.1/8\u{201d} has bits set after its /8 prefix. Write the range as 10.0.0.0/8",
        ),
    ];
    for (typed, message) in cases {
        let fields =
            [("name", "Typo"), ("permissions", "records:read"), ("expiry", "30"), ("allowed_ips", typed)];
        let res = web.post_form("/settings/api-keys/new", "/settings/api-keys", &fields).await;
        assert_eq!(res.status(), 422, "{typed}");
        let html = res.text().await.unwrap();
        let beside = text_at(&html, "p.field-error#allowed_ips-error").expect("an error beside the field");
        assert!(beside.starts_with(message), "{typed}: {beside}");
        let doc = Html::parse_document(&html);
        let field = select(&doc, "textarea#allowed_ips[aria-invalid=\"true\"]");
        assert_eq!(field.len(), 1, "the field is marked invalid");
        assert!(field[0].value().attr("aria-describedby").unwrap().contains("allowed_ips-error"));
        assert_eq!(textarea(&html, "allowed_ips").as_deref(), Some(typed), "the input is kept");
        assert_eq!(select(&doc, "input#name")[0].value().attr("value"), Some("Typo"));
        let summary = text_at(&html, ".error-summary").unwrap();
        assert!(summary.contains("Allowed IP addresses"), "{summary}");
    }
    let hundred_and_one: Vec<String> = (0..101).map(|i| format!("10.0.{i}.0/24")).collect();
    let fields = [
        ("name", "Many"),
        ("permissions", "records:read"),
        ("expiry", "30"),
        ("allowed_ips", &hundred_and_one.join("\n")),
    ];
    let res = web.post_form("/settings/api-keys/new", "/settings/api-keys", &fields).await;
    assert_eq!(res.status(), 422);
    assert!(text_at(&res.text().await.unwrap(), "#allowed_ips-error").unwrap().contains("at most 100"));
    assert!(row_ids(&web.get_text("/settings/api-keys").await).is_empty(), "nothing was created");

    // On the edit form: the same message, the input kept, the stored list unchanged.
    let (id, secret) = create(web, "Kept", &[("allowed_ips", "127.0.0.1")]).await;
    let res = edit_allowlist(web, id, "Renamed", "127.0.0.1\n10.0.0.0/33").await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    let beside = text_at(&html, "#allowed_ips-error").unwrap();
    assert!(beside.starts_with(cases[0].1), "{beside}");
    assert_eq!(textarea(&html, "allowed_ips").as_deref(), Some("127.0.0.1\n10.0.0.0/33"));
    assert_eq!(access_of(&app, id).await.0.as_deref(), Some("127.0.0.1/32"));
    assert!(audit_details(&app, id, "key.updated").await.is_none(), "nothing was saved");
    assert!(cell(&web.get_text("/settings/api-keys").await, id, "Name").contains("Kept"));
    assert_eq!(auth(&app, &secret).await.status(), 200);
}

async fn the_verify_endpoint_checks_the_address_it_is_given(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let (_, secret) = create(app.client(), "Partner", &[("allowed_ips", "10.0.0.0/8, 2001:db8::/32")]).await;

    for allowed in ["10.1.2.3", " 10.255.255.255 ", "2001:db8::7", "::ffff:10.0.0.1"] {
        let res = verify(&app, json!({ "key": secret, "ip": allowed })).await;
        assert_eq!(header(&res, "x-keyward-environment"), Some("live"), "{allowed}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["valid"], true, "{allowed}: {body}");
        assert_eq!(body["environment"], "live");
    }
    // The address given, not the caller's (127.0.0.1, outside the list anyway), is checked.
    let body: Value = verify(&app, json!({ "key": secret, "ip": "192.0.2.1" })).await.json().await.unwrap();
    assert_eq!((body["valid"].clone(), body["code"].clone()), (json!(false), json!("ip_not_allowed")));
    assert!(body["message"].as_str().unwrap().contains("192.0.2.1"), "{body}");
    assert!(body.get("key_id").is_none());
    let body: Value = verify(&app, json!({ "key": secret })).await.json().await.unwrap();
    assert_eq!(body["code"], "ip_not_allowed", "without `ip`, the request's own address: {body}");

    // Not an address: 400 with its own code, before the key is looked at.
    for bad in ["", "10.0.0.0/8", "1.2.3.4:80", "localhost", "999.1.1.1"] {
        let res = verify(&app, json!({ "key": secret, "ip": bad })).await;
        assert_eq!(res.status(), 400, "{bad:?}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_ip", "{bad:?}: {body}");
    }
    let res = verify(&app, json!({ "key": secret, "ip": 42 })).await;
    assert_eq!(res.status(), 400);
    // A key without a list does not care which address is given.
    let (_, open) = create(app.client(), "Anywhere", &[]).await;
    let body: Value = verify(&app, json!({ "key": open, "ip": "192.0.2.1" })).await.json().await.unwrap();
    assert_eq!(body["valid"], true, "{body}");
}

async fn an_allowlist_refusal_is_counted_as_denied_and_leaves_the_rate_allowance(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.usage_flush_interval = Duration::from_millis(100)).await;
    app.setup_owner().await;
    let extra = [("allowed_ips", "10.0.0.0/8"), ("rate_limit_per_minute", "3"), ("rate_limit_burst", "3")];
    let (id, secret) = create(app.client(), "Metered", &extra).await;
    for _ in 0..5 {
        let res = auth(&app, &secret).await;
        assert_eq!(header(&res, "x-keyward-error"), Some("ip_not_allowed"), "never rate_limited");
    }
    // From an allowed address the whole allowance is still there: 3, of which this takes one.
    let res = verify(&app, json!({ "key": secret, "ip": "10.0.0.1" })).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["valid"], true, "{body}");
    assert_eq!(body["ratelimit"]["limit"], 3);
    assert_eq!(body["ratelimit"]["remaining"], 2, "refused requests took nothing: {body}");
    let mut usage = (0, 0);
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (allowed, denied, _, _) = usage_of(&app, id).await;
        usage = (allowed, denied);
        if usage == (1, 5) {
            break;
        }
    }
    assert_eq!(usage, (1, 5), "(allowed, denied)");
}

async fn over_ipv6_the_loopback_address_is_checked_against_the_list(backend: Backend) {
    if !ipv6_loopback() {
        eprintln!("NOTE: no IPv6 loopback on this machine: the IPv6 allowlist test was skipped.");
        return;
    }
    let app = spawn_app_with(backend, |s| s.bind = "[::1]:0".into()).await;
    assert!(app.address.starts_with("http://[::1]:"), "{}", app.address);
    app.setup_owner().await;
    let web = app.client();
    let (_, here) = create(web, "Loopback", &[("allowed_ips", "::1/128")]).await;
    let (_, elsewhere) =
        create(web, "Documentation net", &[("allowed_ips", "2001:db8::/32\n127.0.0.1")]).await;
    let res = auth(&app, &here).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(whoami(&app, &here).await.status(), 200);
    assert_ip_refused(auth(&app, &elsewhere).await, "::1", true).await;
}

// ---------------------------------------------------------------- test keys

async fn a_test_key_says_so_to_every_endpoint_and_in_the_table(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
    let (test_id, test_secret) = create(web, "Sandbox", &[("environment", "test")]).await;
    let (live_id, live_secret) = create(web, "Production", &[("environment", "live")]).await;
    let (default_id, default_secret) = create(web, "Default", &[]).await;
    assert!(test_secret.starts_with("kw_test_") && test_secret.len() == 46, "{test_secret}");
    assert!(live_secret.starts_with("kw_live_") && default_secret.starts_with("kw_live_"));
    assert_eq!(access_of(&app, test_id).await.1, "kw_test_");

    for (secret, env) in [(&test_secret, "test"), (&live_secret, "live"), (&default_secret, "live")] {
        let res = auth(&app, secret).await;
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "x-keyward-environment"), Some(env));
        let res = whoami(&app, secret).await;
        assert_eq!(header(&res, "x-keyward-environment"), Some(env));
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["environment"], env, "{body}");
        assert!(body["masked_key"].as_str().unwrap().starts_with(&format!("kw_{env}_")));
        let res = verify(&app, json!({ "key": secret })).await;
        assert_eq!(header(&res, "x-keyward-environment"), Some(env));
        let body: Value = res.json().await.unwrap();
        assert_eq!((body["valid"].clone(), body["environment"].clone()), (json!(true), json!(env)), "{body}");
    }
    let details = audit_details(&app, test_id, "key.created").await.unwrap();
    assert!(details.starts_with("Test key. Permissions:"), "{details}");

    // The table badges test keys; the filter lists one environment, with status and search.
    let table = web.get_text("/settings/api-keys").await;
    assert!(cell(&table, test_id, "Name").contains("Test"), "{}", cell(&table, test_id, "Name"));
    assert!(!cell(&table, live_id, "Name").contains("Test"));
    assert_eq!(row_ids(&web.get_text("/settings/api-keys?env=test").await), [test_id]);
    assert_eq!(row_ids(&web.get_text("/settings/api-keys?env=live").await), [default_id, live_id]);
    assert_eq!(row_ids(&web.get_text("/settings/api-keys?status=active&env=test&q=sand").await), [test_id]);
    assert!(row_ids(&web.get_text("/settings/api-keys?env=test&q=prod").await).is_empty());
    let filtered = web.get_text("/settings/api-keys?status=active&env=test&q=sand").await;
    let doc = Html::parse_document(&filtered);
    // The status tabs keep the environment, the environment links keep status and search.
    let revoked_tab = select(&doc, "ul.tabs a").into_iter().find(|a| text_of(a) == "Revoked").unwrap();
    assert_eq!(revoked_tab.value().attr("href"), Some("?status=revoked&env=test&q=sand"));
    let live_tab = select(&doc, "ul.env-tabs a").into_iter().find(|a| text_of(a) == "Live keys").unwrap();
    assert_eq!(live_tab.value().attr("href"), Some("?status=active&env=live&q=sand"));
    assert_eq!(select(&doc, "ul.env-tabs a[aria-current=\"page\"]").len(), 1);
    assert_eq!(select(&doc, "form[role=search] input[name=env][value=test]").len(), 1, "search keeps it");
    // Paging keeps it too.
    let ws = crate::helpers::db::first_workspace(&app).await;
    let many = (0..50).map(|i| (format!("bulk {i}"), None, false)).collect();
    crate::helpers::db::insert_keys(&app, ws, many).await;
    let page = web.get_text("/settings/api-keys?env=live").await;
    let next = select(&Html::parse_document(&page), "a[rel=next]")
        .first()
        .and_then(|a| a.value().attr("href").map(str::to_owned))
        .expect("a next page");
    assert!(next.contains("env=live") && next.contains("page=2"), "{next}");
    let second = web.get_text(&format!("/settings/api-keys{next}")).await;
    assert_eq!(row_ids(&second), [default_id, live_id], "the test key is on no live page");

    // The edit form tells the environment and does not offer to change it.
    let form = web.get_text(&format!("/settings/api-keys/{test_id}/edit")).await;
    assert!(text_at(&form, ".lead").unwrap().starts_with("Test"), "{form}");
    assert!(!form.contains("name=\"environment\""));

    // Regenerating keeps the environment.
    let fresh = web.regenerate(test_id).await;
    assert!(fresh.secret.starts_with("kw_test_"), "{}", fresh.secret);
    assert_eq!(header(&auth(&app, &fresh.secret).await, "x-keyward-environment"), Some("test"));

    // An environment the form does not offer is refused beside the choice, nothing created.
    let fields =
        [("name", "Odd"), ("permissions", "records:read"), ("expiry", "30"), ("environment", "prod")];
    let res = web.post_form("/settings/api-keys/new", "/settings/api-keys", &fields).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert_eq!(text_at(&html, "#environment-error").as_deref(), Some("Choose Live or Test."));
    assert!(row_ids(&web.get_text("/settings/api-keys?q=odd").await).is_empty(), "nothing was created");
}

// ---------------------------------------------------------------- behind nginx

/// nginx's forward-auth with the shipped snippet: nginx (127.0.0.1, trusted) appends the
/// client's address to `X-Forwarded-For`; a key limited to 127.0.0.2 passes from there and is
/// refused from 127.0.0.3, whatever that client claims to be. SQLite only, like the other
/// proxy tests.
#[tokio::test]
async fn behind_nginx_the_forwarded_client_address_is_checked() {
    if !nginx::installed() {
        return;
    }
    let stage = Stage::new().await;
    let proxy = nginx::start(&stage).await;
    let key = seed_key(&stage.app, SeedKey { permissions: "records:read", ..Default::default() }).await;
    set_allowed_ips(&stage.app, key.id, Some("127.0.0.2/32")).await;
    let from = |last: u8| {
        reqwest::Client::builder().local_address(std::net::IpAddr::from([127, 0, 0, last])).build().unwrap()
    };
    let url = format!("{}/records/1", stage.base());

    let seen = through(from(2).get(&url).header("X-Api-Key", key.secret())).await;
    assert_eq!(seen.one("x-keyward-key-id"), Some(key.id.to_string().as_str()));
    assert_eq!(seen.one("x-keyward-environment"), Some("live"));
    // A client elsewhere that names the allowed address itself is still elsewhere.
    refused(
        from(3).get(&url).header("X-Api-Key", key.secret()).header("X-Forwarded-For", "127.0.0.2"),
        403,
        "ip_not_allowed",
    )
    .await;
    refused(from(1).get(&url).header("X-Api-Key", key.secret()), 403, "ip_not_allowed").await;
    drop(proxy);
}
