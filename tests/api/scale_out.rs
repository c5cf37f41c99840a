//! Several instances on one database, each answering verifications from memory: a key change
//! made through one is refused by every other on its very next request, however the others
//! are doing (hot cache, listener connection cut, frozen).

use std::time::{Duration, Instant};

use keyward::audit::Actor;
use keyward::keys::{KeyChanges, KeyDescription, KeyName, PermissionSet};

use crate::both_backends;
use crate::helpers::db::first_workspace;
use crate::helpers::{
    Backend, Client, ServerProcess, TestApp, postgres_admin_url, spawn_another, spawn_app_with,
};

both_backends! {
    every_kind_of_key_change_on_one_instance_is_refused_by_another_on_its_next_request,
}

/// A key's verdict on an instance: the status and the refusal code.
async fn verdict(client: &Client, secret: &str, require: Option<&str>) -> (u16, String) {
    let mut req = client.get_request("/api/v1/auth").header("X-Api-Key", secret);
    if let Some(r) = require {
        req = req.header("X-Keyward-Require", r);
    }
    let res = req.send().await.expect("the instance answers");
    let status = res.status().as_u16();
    let code = res.headers().get("x-keyward-error").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    (status, code)
}

/// Waits until the instance answers verifications from memory (on PostgreSQL its lease is
/// taken a moment after start, and again after its listener came back).
async fn until_trusted(app: &TestApp) {
    let Some(feed) = app.state.db.key_feed() else { return };
    let started = Instant::now();
    while !feed.is_trusted() {
        assert!(started.elapsed() < Duration::from_secs(10), "the instance never took its lease");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Asks B about `secret` until one answer came from memory, so the change that follows meets
/// a hot cache.
async fn warm(b: &TestApp, secret: &str) {
    for _ in 0..3 {
        let before = b.verifier.cache.stats().hits;
        assert_eq!(verdict(b.client(), secret, None).await.0, 200);
        if b.verifier.cache.stats().hits > before {
            return;
        }
    }
    panic!("B never answered the key from memory");
}

fn owner_actor() -> Actor {
    Actor { user_id: None, label: "system".into(), ip: None, user_agent: None }
}

const ROUNDS: usize = 200;

/// Revocation, regeneration, deletion and a permission change, each made through A while the
/// key is hot in B's cache, 200 times: B's very next request after A answered is refused.
async fn every_kind_of_key_change_on_one_instance_is_refused_by_another_on_its_next_request(
    backend: Backend,
) {
    let lots = |s: &mut keyward::config::Settings| {
        s.rate_limit.per_minute = 1_000_000;
        s.rate_limit.burst_per_second = 1_000_000;
    };
    let a = spawn_app_with(backend, lots).await;
    let b = spawn_another(&a, lots).await;
    let owner = a.new_client();
    owner.setup(&a.setup_code(), "o@example.com", "scale-out password 1", "Scale").await;
    let workspace = first_workspace(&a).await;
    until_trusted(&a).await;
    until_trusted(&b).await;
    let ready: serde_json::Value = b.client().get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["key_cache"], "memory", "{ready}");

    for round in 0..ROUNDS {
        let key = owner.create_key(&format!("k{round}"), &["records:read"], "never").await;
        warm(&b, &key.secret).await;
        match round % 4 {
            0 => {
                owner.revoke(key.id).await;
                assert_eq!(
                    verdict(b.client(), &key.secret, None).await,
                    (401, "revoked_key".into()),
                    "round {round}"
                );
            }
            1 => {
                let new = owner.regenerate(key.id).await;
                assert_eq!(
                    verdict(b.client(), &key.secret, None).await,
                    (401, "unknown_key".into()),
                    "round {round}"
                );
                assert_eq!(verdict(b.client(), &new.secret, None).await.0, 200);
                owner.revoke(key.id).await;
            }
            2 => {
                owner.delete(key.id).await;
                assert_eq!(
                    verdict(b.client(), &key.secret, None).await,
                    (401, "unknown_key".into()),
                    "round {round}"
                );
            }
            _ => {
                assert_eq!(verdict(b.client(), &key.secret, Some("records:read")).await.0, 200);
                let write_only = KeyChanges {
                    name: KeyName::parse(&format!("k{round}")).unwrap(),
                    description: KeyDescription::default(),
                    permissions: PermissionSet::from_stored("records:write"),
                    rate_limit: None,
                    burst: None,
                    allowed_ips: None,
                };
                let changed =
                    keyward::keys::ops::edit(&a.state.db, &owner_actor(), workspace, key.id, write_only)
                        .await
                        .expect("change the permissions");
                assert!(changed);
                assert_eq!(
                    verdict(b.client(), &key.secret, Some("records:read")).await,
                    (403, "insufficient_permission".into()),
                    "round {round}"
                );
                owner.revoke(key.id).await;
            }
        }
    }
    let stats = b.verifier.cache.stats();
    eprintln!(
        "scale-out ({backend:?}): B's cache {} hits, {} misses over {ROUNDS} rounds",
        stats.hits, stats.misses
    );
    b.stop().await;
    a.stop().await;
}

/// The connections of every instance's key listener on the test's database.
fn terminate_listeners(app: &TestApp) -> usize {
    use diesel::{Connection, PgConnection, RunQueryDsl};
    let keyward::config::DatabaseUrl::Postgres(url) = &app.database_url else { unreachable!() };
    let name = url::Url::parse(url).unwrap().path().trim_start_matches('/').to_owned();
    let mut admin = PgConnection::establish(&postgres_admin_url().unwrap()).unwrap();
    #[derive(diesel::QueryableByName)]
    struct Killed {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        killed: bool,
    }
    let rows: Vec<Killed> = diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity \
         WHERE datname = '{name}' AND application_name = 'keyward-key-feed'"
    ))
    .load(&mut admin)
    .unwrap();
    rows.iter().filter(|r| r.killed).count()
}

/// B's listener connection is killed by the server, over and over, each time just before a
/// revocation through A: B never accepts the revoked key, and it goes back to answering from
/// memory once its listener is back.
#[tokio::test]
async fn an_instance_whose_listener_is_cut_never_serves_a_revoked_key() {
    if postgres_admin_url().is_none() {
        return;
    }
    let a = spawn_app_with(Backend::Postgres, |_| {}).await;
    let b = spawn_another(&a, |_| {}).await;
    let owner = a.new_client();
    owner.setup(&a.setup_code(), "o@example.com", "scale-out password 1", "Scale").await;
    for round in 0..10 {
        until_trusted(&b).await;
        let key = owner.create_key(&format!("cut{round}"), &["records:read"], "never").await;
        warm(&b, &key.secret).await;
        assert!(terminate_listeners(&a) >= 1, "a listener connection was found and terminated");
        owner.revoke(key.id).await;
        assert_eq!(
            verdict(b.client(), &key.secret, None).await,
            (401, "revoked_key".into()),
            "round {round}"
        );
    }
    // Back to memory once the listener is back.
    until_trusted(&b).await;
    let key = owner.create_key("after", &["records:read"], "never").await;
    warm(&b, &key.secret).await;
    b.stop().await;
    a.stop().await;
}

/// B (a separate process) is frozen with SIGSTOP: a revocation through A waits for B's lease
/// to lapse, no longer, and B, thawed, refuses the key at once although it had it in memory.
#[tokio::test]
async fn a_frozen_instance_delays_a_revocation_by_at_most_its_lease_and_refuses_it_once_thawed() {
    if postgres_admin_url().is_none() {
        return;
    }
    const LEASE: Duration = Duration::from_secs(1);
    let a = spawn_app_with(Backend::Postgres, |_| {}).await;
    let owner = a.new_client();
    owner.setup(&a.setup_code(), "o@example.com", "scale-out password 1", "Scale").await;
    let dir = tempfile::tempdir().unwrap();
    let b = ServerProcess::start_with_env(
        &a.database_url,
        &dir.path().join("b.log"),
        &[("KEYWARD_KEY_LEASE", "1s"), ("KEYWARD_RATE_LIMIT_PER_MINUTE", "100000")],
    )
    .await;
    let b_client = Client::new(&b.base);
    let key = owner.create_key("frozen", &["records:read"], "never").await;
    // Until B answers from memory: its lease is taken, and then a repeat key needs no read.
    tokio::time::sleep(LEASE).await;
    for _ in 0..3 {
        assert_eq!(verdict(&b_client, &key.secret, None).await.0, 200);
    }

    b.signal("STOP");
    let started = Instant::now();
    owner.revoke(key.id).await;
    let took = started.elapsed();
    b.signal("CONT");
    eprintln!("revocation with a frozen instance answered in {} ms", took.as_millis());
    assert!(took <= LEASE + Duration::from_millis(500), "answered after {took:?}, lease {LEASE:?}");
    assert_eq!(verdict(&b_client, &key.secret, None).await, (401, "revoked_key".into()), "B, thawed");

    // With B healthy again, a revocation is answered as soon as B acknowledges it.
    let fresh = owner.create_key("thawed", &["records:read"], "never").await;
    tokio::time::sleep(LEASE).await;
    for _ in 0..3 {
        assert_eq!(verdict(&b_client, &fresh.secret, None).await.0, 200);
    }
    let started = Instant::now();
    owner.revoke(fresh.id).await;
    let took = started.elapsed();
    assert_eq!(verdict(&b_client, &fresh.secret, None).await, (401, "revoked_key".into()));
    assert!(took < LEASE, "with every instance answering, no lease is waited out ({took:?})");
    drop(b);
    a.stop().await;
}
