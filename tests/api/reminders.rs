//! Expiry reminders and unused keys: the scheduled rules (`lifecycle`) on real servers with a
//! short interval. Times are moved in the database (a key "made 30 days ago"), never slept.
//! Each notice is sent once, whichever of several instances gets to it first.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, TimeDelta, Utc};
use keyward::config::Settings;
use keyward::keys::policy::Policy;

use crate::both_backends;
use crate::helpers::db::{self, SeedKey};
use crate::helpers::{Backend, OWNER_EMAIL, SmtpServer, TestApp, Verdict, spawn_app_with};

both_backends! {
    each_reminder_goes_once_to_the_creator_and_the_owners_with_two_instances_running,
    without_smtp_reminders_are_recorded_and_reach_webhooks,
    an_unused_key_is_warned_then_revoked_by_the_system,
}

/// The rules run every 200 ms.
const INTERVAL: Duration = Duration::from_millis(200);

fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

fn fast(s: &mut Settings) {
    s.lifecycle.interval = INTERVAL;
}

/// Polls until `ready` holds of what `read` returns (10 s at most); returns the last reading.
async fn eventually<T: std::fmt::Debug, F: std::future::Future<Output = T>>(
    what: &str,
    mut read: impl FnMut() -> F,
    ready: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = read().await;
        if ready(&got) {
            return got;
        }
        assert!(Instant::now() < deadline, "{what} did not happen: {got:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An admin's key made through the form a month ago, moved to expire at `expires_at`.
async fn month_old_key(
    app: &TestApp,
    ada: &crate::helpers::Client,
    name: &str,
    expires_at: NaiveDateTime,
) -> i64 {
    let id = ada.create_key(name, &["records:read"], "30").await.id;
    db::set_key_made_at(app, id, now() - TimeDelta::days(30), Some(expires_at)).await;
    id
}

async fn each_reminder_goes_once_to_the_creator_and_the_owners_with_two_instances_running(backend: Backend) {
    let Some(smtp) = SmtpServer::start().await else { return };
    let app = spawn_app_with(backend, |s| {
        fast(s);
        s.smtp = Some(smtp.settings());
    })
    .await;
    let other = app
        .another_instance(|s| {
            fast(s);
            s.smtp = Some(smtp.settings());
        })
        .await;
    app.setup_owner().await;
    let ada = app.add_member("ada@example.com", "admin").await;
    // A second owner, told too; a viewer, who is not.
    app.add_member("bob@example.com", "owner").await;
    app.add_member("cy@example.com", "viewer").await;
    let week = month_old_key(&app, &ada, "Weekly", now() + TimeDelta::days(6)).await;
    let day = month_old_key(&app, &ada, "Daily", now() + TimeDelta::hours(20)).await;
    let gone = month_old_key(&app, &ada, "Gone", now() - TimeDelta::hours(1)).await;
    // Expired long ago, made for 7 days just now, revoked: none is reminded.
    month_old_key(&app, &ada, "Ancient", now() - TimeDelta::days(8)).await;
    let fresh = ada.create_key("Fresh", &["records:read"], "7").await.id;
    // Revoked before it is moved into the reminder window: the rules run every 200 ms
    // here, and a key that is live and due for even an instant is rightly told.
    let revoked = ada.create_key("Revoked", &["records:read"], "30").await.id;
    ada.revoke(revoked).await;
    db::set_key_made_at(&app, revoked, now() - TimeDelta::days(30), Some(now() + TimeDelta::days(3))).await;

    // Three notices, each to ada (the creator) and both owners: nine emails (besides the
    // invitations).
    let reminders = || {
        let mut m = smtp.messages();
        m.retain(|m| m.subject.starts_with("API key"));
        m
    };
    eventually("nine reminder emails", || async { reminders().len() }, |n| *n >= 9).await;
    // Many more runs on both instances send nothing more.
    tokio::time::sleep(INTERVAL * 6).await;
    let mut sent: BTreeMap<(String, String), usize> = BTreeMap::new();
    for m in &reminders() {
        *sent.entry((m.to.clone(), m.subject.clone())).or_default() += 1;
        assert!(m.body.contains("Acme") && m.body.contains("kw_live_"), "{}", m.body);
    }
    let subjects = [
        "API key \u{201c}Weekly\u{201d} in Acme expires in 6 days",
        "API key \u{201c}Daily\u{201d} in Acme expires in 1 day",
        "API key \u{201c}Gone\u{201d} in Acme has expired",
    ];
    let mut want = BTreeMap::new();
    for to in ["ada@example.com", OWNER_EMAIL, "bob@example.com"] {
        for subject in subjects {
            want.insert((to.to_owned(), subject.to_owned()), 1);
        }
    }
    assert_eq!(sent, want, "exactly one email per recipient and notice");

    let notices: Vec<(i64, String)> =
        db::key_notices(&app).await.into_iter().map(|(k, kind, _)| (k, kind)).collect();
    assert_eq!(
        notices,
        [(week, "expiring_7d".to_owned()), (day, "expiring_1d".to_owned()), (gone, "expired".to_owned())],
        "the key 20 hours from its end gets only the 1-day reminder; the 7-day key made now none yet"
    );
    assert!(!notices.iter().any(|(k, _)| *k == fresh));
    // Audited once each, by the system.
    let reminders: Vec<_> = db::audit_rows(&app)
        .await
        .into_iter()
        .filter(|(_, action, _, _)| action == "key.expiry_reminder" || action == "key.expired")
        .collect();
    assert_eq!(reminders.len(), 3, "{reminders:?}");
    for (actor, _, _, details) in &reminders {
        assert_eq!(actor, "system");
        assert!(details.contains("emailed to") && details.contains("ada@example.com"), "{details}");
    }
    other.stop().await;
}

async fn without_smtp_reminders_are_recorded_and_reach_webhooks(backend: Backend) {
    let app = spawn_app_with(backend, fast).await;
    app.setup_owner().await;
    let ws = db::first_workspace(&app).await;
    db::insert_webhook_endpoint(&app, ws, "key.expiring key.expired").await;
    let owner = app.client();
    let week = month_old_key(&app, owner, "Weekly", now() + TimeDelta::days(6)).await;
    let gone = month_old_key(&app, owner, "Gone", now() - TimeDelta::hours(1)).await;

    let notices = eventually("two notices", || db::key_notices(&app), |n| n.len() >= 2).await;
    let kinds: Vec<(i64, &str)> = notices.iter().map(|(k, kind, _)| (*k, kind.as_str())).collect();
    assert_eq!(kinds, [(week, "expiring_7d"), (gone, "expired")]);
    let events = db::webhook_events(&app).await;
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types.iter().filter(|t| **t == "key.expiring").count(), 1, "{types:?}");
    assert_eq!(types.iter().filter(|t| **t == "key.expired").count(), 1, "{types:?}");
    let expiring = &events.iter().find(|(t, _)| t == "key.expiring").unwrap().1;
    let payload: serde_json::Value = serde_json::from_str(expiring).unwrap();
    assert_eq!(payload["data"]["days_left"], 6, "6 days from its end: {payload}");
    assert_eq!(payload["data"]["key"]["id"], week, "{payload}");
    assert_eq!(payload["data"]["key"]["name"], "Weekly", "{payload}");
    assert!(
        !expiring.contains("key_hash") && expiring.contains("kw_live_\u{2026}"),
        "masked, never the secret: {expiring}"
    );
    let audit = db::audit_rows(&app).await;
    let reminder = audit.iter().find(|(_, a, _, _)| a == "key.expiry_reminder").unwrap();
    assert!(reminder.3.contains("no email"), "{reminder:?}");
    // The audit log page has words for them.
    let log = app.client().get_text("/settings/audit-log").await;
    assert!(log.contains("Expiry reminder sent") && log.contains("Key expired"), "{log}");
}

async fn an_unused_key_is_warned_then_revoked_by_the_system(backend: Backend) {
    const DAYS: u32 = 30;
    let Some(smtp) = SmtpServer::start().await else { return };
    let app = spawn_app_with(backend, |s| {
        fast(s);
        s.smtp = Some(smtp.settings());
    })
    .await;
    let days = |d: i64| TimeDelta::days(d);
    // Keys of the "Seeded" workspace, whose owner seed@example.com made them 60 days ago.
    let seed = |name| SeedKey { name, ..SeedKey::default() };
    let warned_soon = db::seed_key(&app, seed("Idle 24 days")).await;
    let overdue = db::seed_key(&app, seed("Idle 31 days, warned")).await;
    let unwarned = db::seed_key(&app, seed("Idle 31 days")).await;
    let busy = db::seed_key(&app, seed("Used yesterday")).await;
    let ws = warned_soon.workspace_id;
    for k in [&warned_soon, &overdue, &unwarned, &busy] {
        db::set_key_made_at(&app, k.id, now() - days(60), None).await;
    }
    db::set_last_used(&app, warned_soon.id, now() - days(DAYS as i64 - 6), "192.0.2.1").await;
    let overdue_used = now() - days(DAYS as i64 + 1);
    db::set_last_used(&app, overdue.id, overdue_used, "192.0.2.1").await;
    db::set_last_used(&app, unwarned.id, now() - days(DAYS as i64 + 1), "192.0.2.1").await;
    db::set_last_used(&app, busy.id, now() - days(1), "192.0.2.1").await;
    // The overdue key was warned 8 days ago, about that same idle spell.
    db::record_notice(&app, overdue.id, "unused_warning", overdue_used, now() - days(8)).await;
    let client = app.new_client();
    assert_eq!(client.verify(overdue.secret()).await, Verdict::Valid);

    db::set_policy(&app, ws, Policy { unused_revoke_days: Some(DAYS), ..Policy::default() }).await;

    let revoked =
        eventually("the revocation", || db::key_row(&app, overdue.id), |r| r.as_ref().unwrap().3.is_some())
            .await;
    assert!(revoked.unwrap().3.is_some());
    assert_eq!(client.verify(overdue.secret()).await, Verdict::Refused("revoked_key".into()));
    let messages = smtp.wait_for(2).await;
    tokio::time::sleep(INTERVAL * 5).await;
    let messages = if smtp.messages().len() > messages.len() { smtp.messages() } else { messages };
    let subjects: Vec<&str> = messages.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(messages.len(), 2, "one warning each for the two idle keys never warned: {subjects:?}");
    for name in ["Idle 24 days", "Idle 31 days"] {
        let subject = format!("API key \u{201c}{name}\u{201d} in Seeded will be revoked for not being used");
        assert!(subjects.contains(&subject.as_str()), "{subjects:?}");
    }
    assert!(messages.iter().all(|m| m.to == "seed@example.com"));
    // The unwarned key idle as long is warned, not revoked: a week's notice first.
    for k in [&warned_soon, &unwarned, &busy] {
        assert!(db::key_row(&app, k.id).await.unwrap().3.is_none());
        assert_eq!(client.verify(k.secret()).await, Verdict::Valid);
    }
    let audit = db::audit_rows(&app).await;
    let revocation = audit.iter().find(|(_, a, k, _)| a == "key.revoked" && *k == Some(overdue.id)).unwrap();
    assert_eq!(revocation.0, "system");
    assert!(revocation.3.contains("policy: unused for 30 days"), "the reason is audited: {revocation:?}");
    let warnings: Vec<_> = audit.iter().filter(|(_, a, _, _)| a == "key.unused_warning").collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings.iter().all(|(actor, _, _, _)| actor == "system"));
}
