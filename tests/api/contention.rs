//! Contention: many admins creating, regenerating and revoking keys at once through the real
//! console forms. No request may fail, none may answer 5xx, and "database is locked" must never
//! reach a user; afterwards every change is in the table and in the audit log exactly once.

use std::sync::Arc;

use diesel::prelude::*;
use futures_util::future::join_all;
use keyward::db::schema::{api_keys, audit_events};

use crate::both_backends;
use crate::helpers::{Backend, Client, Failure, OWNER_EMAIL, OWNER_PASSWORD, TestApp, spawn_app_with};

both_backends! {
    fifty_concurrent_creations_and_revocations_all_succeed_and_are_all_audited,
    ten_concurrent_creations_of_one_name_leave_exactly_one_key,
}

fn check(results: &[Result<(), Failure>]) {
    let failures: Vec<String> =
        results.iter().filter_map(|r| r.as_ref().err()).map(|e| e.to_string()).collect();
    for f in &failures {
        assert!(!f.contains("database is locked"), "{f}");
    }
    assert!(failures.is_empty(), "{} of {} requests failed: {failures:#?}", failures.len(), results.len());
}

/// A production-like server (several workers and the default pool, so requests really
/// overlap) with an owner signed in to a fresh workspace.
async fn busy_app(backend: Backend, workspace: &str) -> (TestApp, Arc<Client>) {
    let app = spawn_app_with(backend, |s| {
        s.workers = 4;
        s.pool_size = 10;
    })
    .await;
    let owner = app.new_client();
    owner.setup(&app.setup_code(), OWNER_EMAIL, OWNER_PASSWORD, workspace).await;
    (app, Arc::new(owner))
}

async fn fifty_concurrent_creations_and_revocations_all_succeed_and_are_all_audited(backend: Backend) {
    let (app, owner) = busy_app(backend, "Busy").await;

    // 50 creations at once.
    let created: Vec<Result<i64, Failure>> = join_all((0..50).map(|i| {
        let owner = owner.clone();
        async move { owner.try_create_key_unrevealed(&format!("burst {i}")).await }
    }))
    .await;
    check(&created.iter().map(|r| r.as_ref().map(drop).map_err(Clone::clone)).collect::<Vec<_>>());
    let ids: Vec<i64> = created.into_iter().map(Result::unwrap).collect();

    // Then 25 revocations, 10 regenerations and 25 more creations, all at once.
    let mut ops: Vec<futures_util::future::BoxFuture<'static, Result<(), Failure>>> = Vec::new();
    for &id in &ids[..25] {
        let owner = owner.clone();
        ops.push(Box::pin(async move { owner.try_revoke(id).await }));
    }
    for &id in &ids[25..35] {
        let owner = owner.clone();
        ops.push(Box::pin(async move { owner.try_regenerate_unrevealed(id).await.map(drop) }));
    }
    for i in 0..25 {
        let owner = owner.clone();
        ops.push(Box::pin(
            async move { owner.try_create_key_unrevealed(&format!("second {i}")).await.map(drop) },
        ));
    }
    check(&join_all(ops).await);

    // Everything landed once, with its audit entry.
    let mut conn = app.state.db.get().unwrap();
    let total: i64 = api_keys::table.count().get_result(&mut *conn).unwrap();
    let revoked: i64 =
        api_keys::table.filter(api_keys::revoked_at.is_not_null()).count().get_result(&mut *conn).unwrap();
    let count = |action: &str, conn: &mut keyward::db::DbConnection| -> i64 {
        audit_events::table
            .filter(audit_events::action.eq(action.to_owned()))
            .count()
            .get_result(conn)
            .unwrap()
    };
    assert_eq!(total, 75);
    assert_eq!(revoked, 25);
    assert_eq!(count("key.created", &mut conn), 75);
    assert_eq!(count("key.revoked", &mut conn), 25);
    assert_eq!(count("key.regenerated", &mut conn), 10);
    drop(conn);
    app.stop().await;
}

async fn ten_concurrent_creations_of_one_name_leave_exactly_one_key(backend: Backend) {
    let (app, owner) = busy_app(backend, "Race").await;

    // The same name ten times at once: on PostgreSQL (READ COMMITTED) each transaction would
    // see no active key of that name unless they run one after another.
    let results: Vec<Result<i64, Failure>> = join_all((0..10).map(|_| {
        let owner = owner.clone();
        async move { owner.try_create_key_unrevealed("Billing").await }
    }))
    .await;

    let created: Vec<i64> = results.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
    assert_eq!(created.len(), 1, "exactly one creation wins: {results:#?}");
    for failure in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(!failure.is_server_error(), "{failure}");
        let Failure::Status { status: 422, body, .. } = failure else {
            panic!("expected the form again with 422, got {failure}");
        };
        assert!(body.contains("An active key named \u{201c}Billing\u{201d} already exists"), "{failure}");
    }
    let mut conn = app.state.db.get().unwrap();
    let named: i64 =
        api_keys::table.filter(api_keys::name.eq("Billing")).count().get_result(&mut *conn).unwrap();
    assert_eq!(named, 1);
    let audited: i64 = audit_events::table
        .filter(audit_events::action.eq("key.created"))
        .count()
        .get_result(&mut *conn)
        .unwrap();
    assert_eq!(audited, 1);
    drop(conn);
    app.stop().await;
}
