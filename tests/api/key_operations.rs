//! The key operations called directly, as an entry point other than the console would call
//! them: the same rules, the same audit trail, the same typed refusals.

use diesel::prelude::*;
use keyward::audit::Actor;
use keyward::db::DbError;
use keyward::db::schema::audit_events;
use keyward::keys::store::{self, Status};
use keyward::keys::{
    self, Burst, Expiry, Grace, KeyDescription, KeyError, KeyName, NewKeyRequest, PermissionSet, RateLimit,
};

use crate::both_backends;
use crate::helpers::db::{first_workspace, second_workspace, user_id};
use crate::helpers::{Backend, TestApp, spawn_app};

both_backends! {
    every_operation_keeps_the_rules_and_leaves_one_audit_event,
    operations_never_reach_into_another_workspace,
    a_rotation_takes_any_grace_up_to_seven_days,
}

fn request(name: &str) -> NewKeyRequest {
    NewKeyRequest {
        name: KeyName::parse(name).unwrap(),
        description: KeyDescription::default(),
        permissions: PermissionSet::from_stored("records:read"),
        expiry: Expiry::Days(30),
        rate_limit: RateLimit::parse_optional("250").unwrap(),
        burst: Burst::parse_optional("40", RateLimit::parse_optional("250").unwrap()).unwrap(),
        environment: keyward::keys::Environment::Live,
        allowed_ips: None,
    }
}

async fn owner(app: &TestApp) -> Actor {
    let id = user_id(app, crate::helpers::OWNER_EMAIL).await;
    Actor { user_id: Some(id), label: "automation".into(), ip: None, user_agent: None }
}

/// `(action, actor)` of every audit event about the key, oldest first.
async fn trail(app: &TestApp, key_id: i64) -> Vec<(String, String)> {
    app.state
        .db
        .run(move |conn| -> Result<_, DbError> {
            Ok(audit_events::table
                .filter(audit_events::key_id.eq(key_id))
                .order(audit_events::id.asc())
                .select((audit_events::action, audit_events::actor))
                .load::<(String, String)>(conn)?)
        })
        .await
        .unwrap()
}

async fn every_operation_keeps_the_rules_and_leaves_one_audit_event(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let (db, ws, actor) = (&app.state.db, first_workspace(&app).await, owner(&app).await);

    let issued = keys::ops::create(db, &actor, ws, request("Billing")).await.unwrap();
    let row = keys::ops::find(db, ws, issued.id).await.unwrap();
    assert_eq!(
        (row.name.as_str(), row.rate_limit_per_minute, row.rate_limit_burst),
        ("Billing", Some(250), Some(40))
    );
    assert_eq!(row.created_by, actor.user_id);
    let found = keyward_find(&app, issued.secret.expose()).await;
    assert_eq!(found, Some(issued.id), "the new secret is the key's");

    // Names clash in any case while the key is active.
    match keys::ops::create(db, &actor, ws, request("billing")).await {
        Err(KeyError::NameTaken { existing }) => assert_eq!(existing, "Billing"),
        other => panic!("expected NameTaken, got {:?}", other.map(|i| i.id)),
    }

    // A new secret: the old one stops at once.
    let again = keys::ops::regenerate(db, &actor, ws, issued.id, Grace::NONE).await.unwrap();
    assert_eq!(again.id, issued.id);
    assert_eq!(keyward_find(&app, issued.secret.expose()).await, None, "the old secret is dead");
    assert_eq!(keyward_find(&app, again.secret.expose()).await, Some(issued.id));
    let regenerated = keys::ops::find(db, ws, issued.id).await.unwrap();
    assert_eq!(
        (regenerated.rate_limit_per_minute, regenerated.rate_limit_burst),
        (Some(250), Some(40)),
        "a new secret keeps the key's limits"
    );

    // The one showing can be claimed once, and only for the current secret.
    assert!(!keys::ops::claim_reveal(db, &actor, &row, issued.secret.expose()).await.unwrap());
    let row = keys::ops::find(db, ws, issued.id).await.unwrap();
    assert!(keys::ops::claim_reveal(db, &actor, &row, again.secret.expose()).await.unwrap());
    assert!(!keys::ops::claim_reveal(db, &actor, &row, again.secret.expose()).await.unwrap());

    let gone = keys::ops::revoke(db, &actor, ws, issued.id).await.unwrap();
    assert_eq!(gone.name, "Billing");
    let row = keys::ops::find(db, ws, issued.id).await.unwrap();
    assert_eq!(row.status(chrono::Utc::now().naive_utc()), Status::Revoked);
    assert_eq!(row.revoked_by, actor.user_id);
    assert!(matches!(
        keys::ops::revoke(db, &actor, ws, issued.id).await,
        Err(KeyError::AlreadyRevoked { name }) if name == "Billing"
    ));
    let refused = keys::ops::regenerate(db, &actor, ws, issued.id, Grace::NONE).await.err().unwrap();
    assert!(matches!(refused, KeyError::RevokedCannotRegenerate { .. }), "{refused}");
    assert_eq!(refused.code(), "key_revoked");

    // A revoked key frees its name.
    let second = keys::ops::create(db, &actor, ws, request("billing")).await.unwrap();
    keys::ops::delete(db, &actor, ws, second.id).await.unwrap();
    assert!(matches!(keys::ops::find(db, ws, second.id).await, Err(KeyError::NotFound)));

    let expected = ["key.created", "key.regenerated", "key.revealed", "key.revoked"];
    let first_trail = trail(&app, issued.id).await;
    assert_eq!(first_trail.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>(), expected);
    assert!(first_trail.iter().all(|(_, who)| who == "automation"), "{first_trail:?}");
    let second_trail: Vec<String> = trail(&app, second.id).await.into_iter().map(|(a, _)| a).collect();
    assert_eq!(second_trail, ["key.created", "key.deleted"]);
}

async fn operations_never_reach_into_another_workspace(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let (db, ws, actor) = (&app.state.db, first_workspace(&app).await, owner(&app).await);
    let other = second_workspace(&app, "globex@example.com").await;
    let theirs = keys::ops::create(db, &actor, other, request("Billing")).await.unwrap();

    // The same name is free in this workspace: names clash per workspace only.
    keys::ops::create(db, &actor, ws, request("Billing")).await.unwrap();
    for result in [
        keys::ops::revoke(db, &actor, ws, theirs.id).await.map(drop),
        keys::ops::delete(db, &actor, ws, theirs.id).await.map(drop),
        keys::ops::regenerate(db, &actor, ws, theirs.id, Grace::NONE).await.map(drop),
        keys::ops::find(db, ws, theirs.id).await.map(drop),
    ] {
        assert!(matches!(result, Err(KeyError::NotFound)), "{result:?}");
    }
    assert_eq!(keyward_find(&app, theirs.secret.expose()).await, Some(theirs.id), "untouched");
}

/// The verifier's lookup: which key, if any, a secret belongs to now.
async fn keyward_find(app: &TestApp, secret: &str) -> Option<i64> {
    let hash = keyward::keys::KeyHash::of(secret);
    app.state
        .db
        .run(move |conn| store::find_by_hash(conn, &hash).map_err(DbError::from))
        .await
        .unwrap()
        .map(|r| r.id)
}

/// The grace as any other entry point gives it: any number of seconds up to 7 days, the old
/// secret found (and marked as replaced) until then; disabling stops both secrets.
async fn a_rotation_takes_any_grace_up_to_seven_days(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let (db, ws, actor) = (&app.state.db, first_workspace(&app).await, owner(&app).await);
    let issued = keys::ops::create(db, &actor, ws, request("Rotating")).await.unwrap();
    let grace = Grace::from_seconds(90).unwrap();
    let again = keys::ops::regenerate(db, &actor, ws, issued.id, grace).await.unwrap();
    let until = again.old_secret_until.expect("a grace period");
    let expected = chrono::Utc::now().naive_utc() + chrono::TimeDelta::seconds(90);
    assert!((until - expected).num_seconds().abs() <= 2, "{until}");
    let old = keyward_record(&app, issued.secret.expose()).await.expect("the old secret is still found");
    assert_eq!(old.id, issued.id);
    // PostgreSQL keeps microseconds.
    let stored = old.replaced_until.expect("found as the replaced secret");
    assert!((stored - until).num_microseconds().unwrap().abs() <= 1, "{stored} vs {until}");
    let new = keyward_record(&app, again.secret.expose()).await.unwrap();
    assert_eq!(new.replaced_until, None, "the new secret is the key's own");
    assert!(Grace::from_seconds(Grace::MAX_SECONDS + 1).is_err(), "more than 7 days is refused");

    keys::ops::disable(db, &actor, ws, issued.id).await.unwrap();
    for secret in [issued.secret.expose(), again.secret.expose()] {
        assert!(keyward_record(&app, secret).await.unwrap().disabled_at.is_some());
    }
    assert!(matches!(
        keys::ops::disable(db, &actor, ws, issued.id).await,
        Err(KeyError::AlreadyDisabled { .. })
    ));
    keys::ops::enable(db, &actor, ws, issued.id).await.unwrap();
    let refused = keys::ops::enable(db, &actor, ws, issued.id).await.err().unwrap();
    assert_eq!(refused.code(), "not_disabled");
}

async fn keyward_record(app: &TestApp, secret: &str) -> Option<store::KeyRecord> {
    let hash = keyward::keys::KeyHash::of(secret);
    app.state.db.run(move |conn| store::find_by_hash(conn, &hash).map_err(DbError::from)).await.unwrap()
}
