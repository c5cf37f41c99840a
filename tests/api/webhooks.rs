//! Signed webhooks: an owner adds an endpoint, a receiver started by the test verifies every
//! delivery with the Standard Webhooks reference library (Python's `standardwebhooks`), failed
//! deliveries are retried with the same `webhook-id`, and the server refuses to send into its
//! own network, to follow redirects or to wait past its timeout.

use std::net::ToSocketAddrs;
use std::time::Duration;

use scraper::Html;

use crate::both_backends;
use crate::helpers::client::input_value;
use crate::helpers::pages::{no_store, select, text_of};
use crate::helpers::webhook_receiver::{Behaviour, Hit, Receiver};
use crate::helpers::{
    Backend, Client, OWNER_EMAIL, OWNER_PASSWORD, SmtpServer, TestApp, db, spawn_another, spawn_app,
    spawn_app_with,
};
use keyward::config::Settings;

both_backends! {
    a_receiver_verifies_every_delivery_and_sees_retries_after_answering_500,
    key_changes_arrive_as_signed_events_that_hold_no_secret,
    a_receiver_with_another_secret_refuses_the_signature,
    private_loopback_and_plain_http_addresses_are_refused_beside_the_field,
    a_name_that_resolves_to_a_private_address_is_not_called,
    redirects_are_not_followed,
    a_receiver_slower_than_the_timeout_counts_as_a_failure,
    an_endpoint_failing_too_long_is_disabled_and_its_owners_are_told,
    two_instances_never_send_to_one_endpoint_at_once_and_deliver_each_event_once,
    only_owners_see_webhooks_and_other_workspaces_endpoints_are_not_found,
    endpoints_are_edited_disabled_enabled_and_deleted,
    adding_an_endpoint_or_pointing_it_elsewhere_asks_who_you_are_once_the_proof_is_stale,
}

/// Private addresses allowed (the receiver is on 127.0.0.1), quick retries and polls.
fn fast(s: &mut Settings) {
    s.webhooks.allow_private = true;
    s.webhooks.retry_base = Duration::from_millis(200);
    s.webhooks.poll_interval = Duration::from_millis(100);
}

const WAIT: Duration = Duration::from_secs(15);

fn location(res: &reqwest::Response) -> String {
    res.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default().to_owned()
}

/// Adds an endpoint through the console; answers its id and the secret shown once.
async fn add_endpoint(client: &Client, url: &str, events: &[&str]) -> (i64, String) {
    let mut form = vec![("url", url), ("description", "test receiver")];
    form.extend(events.iter().map(|e| ("events", *e)));
    let res = client.post_form("/settings/webhooks/new", "/settings/webhooks", &form).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap_or_default());
    let to = location(&res);
    let id: i64 = to
        .strip_prefix("/settings/webhooks/")
        .and_then(|r| r.strip_suffix("/secret"))
        .and_then(|i| i.parse().ok())
        .unwrap_or_else(|| panic!("redirected to {to}"));
    let page = client.get(&to).await;
    assert!(no_store(&page), "the secret's page is never stored");
    let html = page.text().await.unwrap();
    let secret = input_value(&html, "signing-secret").expect("the secret is shown");
    assert!(secret.starts_with("whsec_"), "{secret}");
    // Shown once.
    let again = client.get_text(&to).await;
    assert!(input_value(&again, "signing-secret").is_none() && again.contains("can no longer be displayed"));
    (id, secret)
}

async fn press(client: &Client, id: i64, action: &str) -> reqwest::Response {
    let page = format!("/settings/webhooks/{id}");
    client.post_form(&page, &format!("{page}/{action}"), &[]).await
}

/// Waits until the endpoint's deliveries satisfy `done`.
async fn wait_deliveries(
    app: &TestApp,
    id: i64,
    done: impl Fn(&[db::DeliveryState]) -> bool,
) -> Vec<db::DeliveryState> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let rows = db::webhook_deliveries(app, id).await;
        if done(&rows) || std::time::Instant::now() >= deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// No body holds a signing secret or any of `keys` (full API keys; the masked form, which
/// starts with the same prefix, is expected).
fn no_secrets(hits: &[Hit], keys: &[&str]) {
    for h in hits {
        assert!(!h.body.contains("whsec_"), "a payload holds a signing secret: {}", h.body);
        for key in keys {
            assert!(!h.body.contains(key), "a payload holds an API key: {}", h.body);
        }
    }
}

async fn a_receiver_verifies_every_delivery_and_sees_retries_after_answering_500(backend: Backend) {
    let Some(receiver) = Receiver::start(Behaviour { fail_first: 2, ..Behaviour::default() }) else { return };
    let app = spawn_app_with(backend, fast).await;
    app.setup_owner().await;
    let owner = app.client();
    let (id, secret) = add_endpoint(owner, &receiver.url("/hook"), &["all"]).await;
    receiver.set_secret(&secret);
    // Stored sealed, never as shown.
    let stored = db::stored_webhook_secret(&app, id).await;
    assert!(stored.starts_with("v1:") && !stored.contains(&secret[6..]), "{stored}");

    let res = press(owner, id, "test").await;
    assert_eq!(location(&res), format!("/settings/webhooks/{id}"));
    let hits = receiver.wait_for(WAIT, |h| h.len() >= 3).await;
    assert_eq!(hits.len(), 3, "{hits:#?}");
    assert!(hits.iter().all(|h| h.verified), "every attempt verifies: {hits:#?}");
    let first = hits[0].id.clone().expect("a webhook-id");
    assert!(first.starts_with("msg_"));
    assert!(hits.iter().all(|h| h.id.as_deref() == Some(&first)), "retries keep the webhook-id");
    assert_eq!(hits.iter().map(|h| h.status).collect::<Vec<_>>(), [500, 500, 204]);
    assert!(hits.iter().all(|h| h.event_type.as_deref() == Some("webhook.test")));
    assert!(hits[0].user_agent.as_deref().is_some_and(|ua| ua.starts_with("keyward-webhooks/")));
    assert_eq!(hits[0].content_type.as_deref(), Some("application/json"));
    // Exponential backoff: about 200 ms, then about 800 ms.
    assert!(hits[1].start - hits[0].end >= 0.15, "{hits:#?}");
    assert!(hits[2].start - hits[1].end >= 0.7, "{hits:#?}");

    let rows = wait_deliveries(&app, id, |r| r.first().is_some_and(|d| d.0 == "succeeded")).await;
    assert_eq!(rows, [("succeeded".to_owned(), 3, Some(204), None)]);
    let html = owner.get_text(&format!("/settings/webhooks/{id}")).await;
    let doc = Html::parse_document(&html);
    let row: Vec<String> = select(&doc, "table.deliveries-table tbody tr td").iter().map(text_of).collect();
    assert!(row[0].contains("webhook.test") && row[0].contains(&first), "{row:?}");
    assert!(row[1].contains("Succeeded") && row[2] == "3" && row[3].contains("204"), "{row:?}");
    assert!(row[3].contains("Attempts: 500 → 500 → 204"), "each attempt's answer: {row:?}");

    // Redelivery: a new delivery of the same event, with the same webhook-id.
    let delivery: i64 =
        select(&doc, "tr[data-delivery-id]")[0].value().attr("data-delivery-id").unwrap().parse().unwrap();
    let res = press(owner, id, &format!("deliveries/{delivery}/redeliver")).await;
    assert_eq!(res.status(), 303);
    let hits = receiver.wait_for(WAIT, |h| h.len() >= 4).await;
    assert_eq!(hits.len(), 4);
    assert!(hits[3].verified && hits[3].id.as_deref() == Some(&first) && hits[3].status == 204);
    no_secrets(&hits, &[]);
    let actions: Vec<String> = db::audit_actions(&app).await.into_iter().map(|(a, _)| a).collect();
    assert!(actions.contains(&"webhook.created".to_owned()), "{actions:?}");
    // Every member reads the audit log: it names the endpoint without its path, where
    // receivers often keep a token.
    let created: Vec<String> = db::audit_actions(&app)
        .await
        .into_iter()
        .filter(|(a, _)| a == "webhook.created")
        .map(|(_, d)| d)
        .collect();
    let host_only = receiver.url("/hook").replace("/hook", "/\u{2026}");
    assert!(created[0].contains(&host_only) && !created[0].contains("/hook"), "{created:?}");
}

async fn key_changes_arrive_as_signed_events_that_hold_no_secret(backend: Backend) {
    let Some(receiver) = Receiver::start(Behaviour::default()) else { return };
    let app = spawn_app_with(backend, fast).await;
    app.setup_owner().await;
    let owner = app.client();
    let (_, secret) = add_endpoint(owner, &receiver.url("/hook"), &["all"]).await;
    receiver.set_secret(&secret);
    let created = owner.create_key("Deploy bot", &["records:read"], "30").await;
    let regenerated = owner.regenerate(created.id).await;
    owner.revoke(created.id).await;
    owner.delete(created.id).await;
    let hits = receiver.wait_for(WAIT, |h| h.len() >= 4).await;
    let mut types: Vec<String> = hits.iter().filter_map(|h| h.event_type.clone()).collect();
    types.sort();
    assert_eq!(types, ["key.created", "key.deleted", "key.regenerated", "key.revoked"], "{hits:#?}");
    assert!(hits.iter().all(|h| h.verified), "{hits:#?}");
    let ids: std::collections::HashSet<_> = hits.iter().map(|h| h.id.clone()).collect();
    assert_eq!(ids.len(), 4, "one webhook-id per event");
    for h in &hits {
        let body: serde_json::Value = serde_json::from_str(&h.body).unwrap();
        assert_eq!(body["data"]["key"]["name"], "Deploy bot", "{body}");
        assert!(body["data"]["key"]["masked"].as_str().is_some_and(|m| m.contains('…')), "{body}");
    }
    no_secrets(&hits, &[&created.secret, &regenerated.secret]);
}

async fn a_receiver_with_another_secret_refuses_the_signature(backend: Backend) {
    let Some(receiver) = Receiver::start(Behaviour::default()) else { return };
    let app = spawn_app_with(backend, fast).await;
    app.setup_owner().await;
    let (id, secret) = add_endpoint(app.client(), &receiver.url("/hook"), &["key.created"]).await;
    receiver.set_secret(&keyward::webhooks::SigningSecret::generate().reveal());
    press(app.client(), id, "test").await;
    let hits = receiver.wait_for(WAIT, |h| !h.is_empty()).await;
    assert!(!hits[0].verified, "{hits:#?}");
    assert!(hits[0].error.as_deref().unwrap_or_default().contains("signature"), "{hits:#?}");
    // The right secret verifies the same request sent again.
    receiver.set_secret(&secret);
    let rows = wait_deliveries(&app, id, |r| r.first().is_some_and(|d| d.0 == "succeeded")).await;
    assert_eq!(rows.len(), 1);
    let html = app.client().get_text(&format!("/settings/webhooks/{id}")).await;
    let doc = Html::parse_document(&html);
    let delivery =
        select(&doc, "tr[data-delivery-id]")[0].value().attr("data-delivery-id").unwrap().to_owned();
    press(app.client(), id, &format!("deliveries/{delivery}/redeliver")).await;
    let hits = receiver.wait_for(WAIT, |h| h.len() >= 2).await;
    assert!(hits[1].verified && hits[1].id == hits[0].id, "{hits:#?}");
}

async fn private_loopback_and_plain_http_addresses_are_refused_beside_the_field(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    for url in [
        "https://127.0.0.1/hook",
        "https://10.0.0.1/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/",
        "https://localhost:8443/",
        "http://example.com/hook",
    ] {
        let form = [("url", url), ("description", "x"), ("events", "all")];
        let res = app.client().post_form("/settings/webhooks/new", "/settings/webhooks", &form).await;
        assert_eq!(res.status(), 422, "{url}");
        let html = res.text().await.unwrap();
        let doc = Html::parse_document(&html);
        let error = select(&doc, "#url-error").first().map(text_of).unwrap_or_default();
        let expected = if url.starts_with("http:") { "https://" } else { "private" };
        assert!(error.contains(expected), "{url}: {error}");
        assert_eq!(input_value(&html, "url").as_deref(), Some(url), "the input is kept");
        assert!(html.contains("No endpoint was added"), "{html}");
    }
    // No event chosen: said beside the events.
    let form = [("url", "https://example.com/hook")];
    let res = app.client().post_form("/settings/webhooks/new", "/settings/webhooks", &form).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("id=\"events-error\""));
    let list = app.client().get_text("/settings/webhooks").await;
    assert!(list.contains("No endpoints yet"), "nothing was added");
}

/// The machine's own name resolves to a loopback or private address on most hosts; a URL
/// naming it passes the form's literal check but the resolver refuses it at delivery.
async fn a_name_that_resolves_to_a_private_address_is_not_called(backend: Backend) {
    let Some(receiver) = Receiver::start(Behaviour::default()) else { return };
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default().trim().to_owned();
    let private = !host.is_empty()
        && (host.as_str(), 0)
            .to_socket_addrs()
            .is_ok_and(|mut a| a.all(|a| !keyward::webhooks::url::is_public(a.ip())));
    if !private {
        eprintln!("note: this host's name does not resolve to a private address; skipping");
        return;
    }
    let app = spawn_app_with(backend, |s| {
        s.webhooks.retry_base = Duration::from_millis(200);
        s.webhooks.poll_interval = Duration::from_millis(100);
    })
    .await;
    app.setup_owner().await;
    let (id, _) =
        add_endpoint(app.client(), &format!("https://{host}:{}/hook", receiver.port), &["all"]).await;
    press(app.client(), id, "test").await;
    let rows = wait_deliveries(&app, id, |r| r.first().is_some_and(|d| d.1 >= 1)).await;
    let error = rows[0].3.clone().unwrap_or_default();
    assert!(error.contains("private"), "{rows:?}");
    assert!(receiver.hits().is_empty());
}

async fn redirects_are_not_followed(backend: Backend) {
    let Some(target) = Receiver::start(Behaviour::default()) else { return };
    let redirect = Behaviour { redirect_to: Some(target.url("/elsewhere")), ..Behaviour::default() };
    let Some(receiver) = Receiver::start(redirect) else { return };
    let app = spawn_app_with(backend, fast).await;
    app.setup_owner().await;
    let (id, secret) = add_endpoint(app.client(), &receiver.url("/hook"), &["all"]).await;
    receiver.set_secret(&secret);
    press(app.client(), id, "test").await;
    let rows = wait_deliveries(&app, id, |r| r.first().is_some_and(|d| d.1 >= 2)).await;
    assert_eq!(rows[0].0, "pending", "a redirect is a failure, retried: {rows:?}");
    assert_eq!(rows[0].2, Some(302));
    assert!(rows[0].3.as_deref().unwrap_or_default().contains("redirects are not followed"), "{rows:?}");
    assert!(receiver.hits().len() >= 2);
    assert!(target.hits().is_empty(), "nothing reached the redirect's target");
}

async fn a_receiver_slower_than_the_timeout_counts_as_a_failure(backend: Backend) {
    let Some(receiver) = Receiver::start(Behaviour { sleep: 5.0, ..Behaviour::default() }) else { return };
    let app = spawn_app_with(backend, |s| {
        fast(s);
        s.webhooks.timeout = Duration::from_millis(700);
    })
    .await;
    app.setup_owner().await;
    let (id, secret) = add_endpoint(app.client(), &receiver.url("/hook"), &["all"]).await;
    receiver.set_secret(&secret);
    let started = std::time::Instant::now();
    press(app.client(), id, "test").await;
    let rows = wait_deliveries(&app, id, |r| r.first().is_some_and(|d| d.1 >= 1)).await;
    assert!(started.elapsed() < Duration::from_secs(4), "the attempt ended at the timeout, not the answer");
    assert_eq!(rows[0].0, "pending");
    assert_eq!(rows[0].2, None);
    assert!(rows[0].3.as_deref().unwrap_or_default().contains("No answer within 700ms"), "{rows:?}");
}

async fn an_endpoint_failing_too_long_is_disabled_and_its_owners_are_told(backend: Backend) {
    let Some(receiver) = Receiver::start(Behaviour { status: 503, fail_first: 0, ..Behaviour::default() })
    else {
        return;
    };
    let Some(smtp) = SmtpServer::start().await else { return };
    let app = spawn_app_with(backend, |s| {
        fast(s);
        s.webhooks.give_up_after = Duration::from_millis(1500);
        s.smtp = Some(smtp.settings());
    })
    .await;
    app.setup_owner().await;
    let (id, secret) = add_endpoint(app.client(), &receiver.url("/hook"), &["all"]).await;
    receiver.set_secret(&secret);
    press(app.client(), id, "test").await;
    let deadline = std::time::Instant::now() + WAIT;
    while db::webhook_disabled(&app, id).await.is_none() {
        assert!(std::time::Instant::now() < deadline, "the endpoint was never disabled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reason = db::webhook_disabled(&app, id).await.unwrap();
    assert!(reason.contains("503"), "{reason}");
    // Nothing waits for a disabled endpoint; the failed delivery keeps its answer.
    let rows = db::webhook_deliveries(&app, id).await;
    assert!(rows.iter().all(|d| d.0 == "failed"), "{rows:?}");
    assert!(rows[0].2 == Some(503) && rows[0].3.as_deref().is_some_and(|e| e.contains("503")), "{rows:?}");
    let html = app.client().get_text(&format!("/settings/webhooks/{id}")).await;
    assert!(html.contains("Disabled") && html.contains("data-disabled-reason"), "{html}");
    let actions = db::audit_actions(&app).await;
    assert!(actions.iter().any(|(a, d)| a == "webhook.disabled" && d.contains("hook")), "{actions:?}");
    let mail = smtp.wait_for(1).await;
    assert_eq!(mail[0].rcpt_tos, [OWNER_EMAIL]);
    assert!(mail[0].subject.contains("Webhook endpoint disabled"), "{}", mail[0].subject);
    assert!(mail[0].body.contains(&receiver.url("/hook")), "{}", mail[0].body);
    assert!(!mail[0].body.contains("whsec_"));
    // Enabling starts afresh.
    press(app.client(), id, "enable").await;
    assert!(db::webhook_disabled(&app, id).await.is_none());
}

async fn two_instances_never_send_to_one_endpoint_at_once_and_deliver_each_event_once(backend: Backend) {
    let Some(receiver) = Receiver::start(Behaviour { sleep: 0.25, ..Behaviour::default() }) else { return };
    let app = spawn_app_with(backend, fast).await;
    app.setup_owner().await;
    let other = spawn_another(&app, fast).await;
    let (id, secret) = add_endpoint(app.client(), &receiver.url("/hook"), &["all"]).await;
    receiver.set_secret(&secret);
    const EVENTS: usize = 8;
    for _ in 0..EVENTS {
        press(app.client(), id, "test").await;
    }
    other.state.webhooks.nudge();
    let hits = receiver.wait_for(Duration::from_secs(30), |h| h.len() >= EVENTS).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hits = if hits.len() >= EVENTS { receiver.hits() } else { hits };
    assert_eq!(hits.len(), EVENTS, "{hits:#?}");
    let mut ids: Vec<_> = hits.iter().map(|h| h.id.clone().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), EVENTS, "each event arrived once");
    let mut spans: Vec<(f64, f64)> = hits.iter().map(|h| (h.start, h.end)).collect();
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    for w in spans.windows(2) {
        assert!(w[1].0 >= w[0].1, "two requests overlapped: {spans:?}");
    }
    assert!(hits.iter().all(|h| h.verified));
    other.stop().await;
}

async fn only_owners_see_webhooks_and_other_workspaces_endpoints_are_not_found(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.webhooks.allow_private = true).await;
    app.setup_owner().await;
    let (id, _) = add_endpoint(app.client(), "https://hooks.example.com/keyward", &["key.revoked"]).await;
    let list = app.client().get_text("/settings/webhooks").await;
    assert!(list.contains("https://hooks.example.com/keyward") && list.contains("key.revoked"), "{list}");
    for role in ["admin", "viewer"] {
        let member = app.add_member(&format!("{role}@example.com"), role).await;
        for path in [
            "/settings/webhooks".to_owned(),
            format!("/settings/webhooks/{id}"),
            "/settings/webhooks/new".into(),
        ] {
            assert_eq!(member.get(&path).await.status(), 403, "{role} {path}");
        }
        for action in ["delete", "disable", "test", "edit"] {
            let res = member
                .post_form(
                    "/settings/api-keys",
                    &format!("/settings/webhooks/{id}/{action}"),
                    &[("url", "https://x.example")],
                )
                .await;
            assert_eq!(res.status(), 403, "{role} {action}");
        }
        let res = member
            .post_form("/settings/api-keys", "/settings/webhooks", &[("url", "https://x.example")])
            .await;
        assert_eq!(res.status(), 403, "{role} adds nothing");
        let keys = member.get_text("/settings/api-keys").await;
        assert!(!keys.contains("href=\"/settings/webhooks\""), "no link for {role}");
    }
    // The owner of another workspace finds nothing of this one.
    db::second_workspace(&app, "globex@example.com").await;
    let globex = app.sign_in_as("globex@example.com").await;
    let page = globex.get(&format!("/settings/webhooks/{id}")).await;
    assert_eq!(page.status(), 404);
    let res = globex.post_form("/settings/webhooks", &format!("/settings/webhooks/{id}/delete"), &[]).await;
    assert_eq!(res.status(), 404);
    assert!(app.client().get(&format!("/settings/webhooks/{id}")).await.status() == 200);
}

async fn endpoints_are_edited_disabled_enabled_and_deleted(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.webhooks.allow_private = true).await;
    app.setup_owner().await;
    let owner = app.client();
    let (id, first_secret) = add_endpoint(owner, "https://hooks.example.com/a", &["all"]).await;
    let edit = format!("/settings/webhooks/{id}/edit");
    let form =
        [("url", "https://hooks.example.com/b"), ("description", "billing"), ("events", "key.deleted")];
    let res = owner.post_form(&edit, &edit, &form).await;
    assert_eq!(location(&res), format!("/settings/webhooks/{id}"));
    let page = owner.get_text(&format!("/settings/webhooks/{id}")).await;
    assert!(
        page.contains("https://hooks.example.com/b")
            && page.contains("billing")
            && page.contains("key.deleted")
    );
    let bad = [("url", "ftp://x"), ("description", ""), ("events", "key.deleted")];
    let res = owner.post_form(&edit, &edit, &bad).await;
    assert_eq!(res.status(), 422);
    press(owner, id, "disable").await;
    assert!(db::webhook_disabled(&app, id).await.is_some());
    let page = owner.get_text(&format!("/settings/webhooks/{id}")).await;
    assert!(!page.contains("Send test event"), "a disabled endpoint sends nothing");
    press(owner, id, "enable").await;
    assert!(db::webhook_disabled(&app, id).await.is_none());
    // A new signing secret, shown once.
    let rotate = format!("/settings/webhooks/{id}/rotate-secret");
    let res = owner.post_form(&rotate, &rotate, &[]).await;
    assert_eq!(location(&res), format!("/settings/webhooks/{id}/secret"));
    let html = owner.get_text(&format!("/settings/webhooks/{id}/secret")).await;
    let second = input_value(&html, "signing-secret").unwrap();
    assert!(second.starts_with("whsec_") && second != first_secret);
    let delete = format!("/settings/webhooks/{id}/delete");
    let confirm = owner.get_text(&delete).await;
    assert!(confirm.contains("No more events are sent"), "{confirm}");
    let res = owner.post_form(&delete, &delete, &[]).await;
    assert_eq!(location(&res), "/settings/webhooks");
    assert_eq!(owner.get(&format!("/settings/webhooks/{id}")).await.status(), 404);
    let actions: Vec<String> = db::audit_actions(&app).await.into_iter().map(|(a, _)| a).collect();
    for a in [
        "webhook.created",
        "webhook.updated",
        "webhook.disabled",
        "webhook.enabled",
        "webhook.secret_rotated",
        "webhook.deleted",
    ] {
        assert!(actions.contains(&a.to_owned()), "{a} in {actions:?}");
    }
}

async fn adding_an_endpoint_or_pointing_it_elsewhere_asks_who_you_are_once_the_proof_is_stale(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |s| s.webhooks.allow_private = true).await;
    app.setup_owner().await;
    let owner = app.client();
    let (id, _) = add_endpoint(owner, "https://hooks.example.com/a", &["all"]).await;
    db::age_confirmation(&app, OWNER_EMAIL, 11).await;

    let form = [("url", "https://hooks.example.com/b"), ("events", "all")];
    let res = owner.post_form("/settings/webhooks/new", "/settings/webhooks", &form).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"confirm_identity-error\""), "{html}");
    assert_eq!(
        input_value(&html, "url").as_deref(),
        Some("https://hooks.example.com/b"),
        "the input is kept"
    );

    // A new description alone needs no proof; a new URL does.
    let edit = format!("/settings/webhooks/{id}/edit");
    let same = [("url", "https://hooks.example.com/a"), ("description", "renamed"), ("events", "all")];
    assert_eq!(owner.post_form(&edit, &edit, &same).await.status(), 303);
    let elsewhere = [("url", "https://attacker.example/"), ("events", "all")];
    let res = owner.post_form(&edit, &edit, &elsewhere).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("Asked only when the URL changes"));
    let rotate = format!("/settings/webhooks/{id}/rotate-secret");
    assert_eq!(owner.post_form(&rotate, &rotate, &[]).await.status(), 422);
    let page = owner.get_text(&format!("/settings/webhooks/{id}")).await;
    assert!(page.contains("https://hooks.example.com/a") && !page.contains("attacker"), "nothing changed");

    let confirmed =
        [("url", "https://hooks.example.com/c"), ("events", "all"), ("confirm_identity", OWNER_PASSWORD)];
    assert_eq!(owner.post_form(&edit, &edit, &confirmed).await.status(), 303);
    assert!(
        owner.get_text(&format!("/settings/webhooks/{id}")).await.contains("https://hooks.example.com/c")
    );
}
