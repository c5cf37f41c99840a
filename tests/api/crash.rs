//! Crash: the real binary is killed with SIGKILL while keys are being created and revoked
//! through the console, then started again on the same database. Afterwards every key whose
//! reveal page was served still verifies (unless its revocation had returned, then it is
//! refused), every key has its `key.created` audit entry, every revoked key its `key.revoked`
//! entry, no row is half written, the server starts cleanly, and no issued key appears in the
//! server's log or in the database.
//!
//! CI runs a few cycles; `KEYWARD_CRASH_CYCLES=N` runs more (the long version, from
//! `bench/soak.sh`).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use keyward::config::DatabaseUrl;
use keyward::db::schema::{api_keys, audit_events};
use rand::Rng;

use crate::both_backends;
use crate::helpers::{Backend, Client, Failure, OWNER_EMAIL, OWNER_PASSWORD, ServerProcess, TestDb, Verdict};
use crate::secrets_scan::{assert_no_key_in, dump_database};

both_backends! {
    keys_survive_kill_9_with_their_audit_entries_and_no_half_written_rows,
}

/// What the clients saw, shared between them.
#[derive(Default)]
struct Seen {
    /// Keys whose reveal page was served in full.
    served: Vec<(i64, String)>,
    /// Keys whose revocation answered 303.
    revoked: HashSet<i64>,
    /// Keys whose revocation was sent but not answered (the kill came first).
    revoking: HashSet<i64>,
    /// Server errors answered before the kill: must stay empty.
    server_errors: Vec<String>,
}

/// Creates and revokes keys until the server stops answering.
async fn churn(console: Client, client_no: usize, cycle: usize, seen: Arc<Mutex<Seen>>) {
    let mut mine: Vec<i64> = Vec::new();
    for n in 0.. {
        let result = if n % 3 == 2 && !mine.is_empty() {
            let id = mine.remove(rand::rng().random_range(0..mine.len()));
            seen.lock().unwrap().revoking.insert(id);
            console.try_revoke(id).await.map(|()| {
                let mut s = seen.lock().unwrap();
                s.revoking.remove(&id);
                s.revoked.insert(id);
            })
        } else {
            console
                .try_create_key(&format!("crash {cycle}/{client_no}/{n}"), &["records:read"], "never")
                .await
                .map(|k| {
                    mine.push(k.id);
                    seen.lock().unwrap().served.push((k.id, k.secret));
                })
        };
        match result {
            Ok(()) => {}
            Err(e) if e.is_transport() => return,
            Err(e @ Failure::Status { .. }) if e.is_server_error() => {
                seen.lock().unwrap().server_errors.push(e.to_string());
                return;
            }
            // A page cut short by the kill reads as a transport error above; anything else
            // (a 4xx, an unexpected page) is a real failure.
            Err(e) => {
                seen.lock().unwrap().server_errors.push(e.to_string());
                return;
            }
        }
    }
}

/// Runs `cycles` kill-and-restart cycles on one database and checks everything after each.
pub async fn crash_cycles(url: &DatabaseUrl, workdir: &Path, cycles: usize, clients: usize) -> CrashReport {
    let log = workdir.join("keyward.log");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut report = CrashReport::default();

    let mut server = ServerProcess::start(url, &log).await;
    Client::new(&server.base).setup(&server.setup_code(), OWNER_EMAIL, OWNER_PASSWORD, "Crash Co").await;

    for cycle in 0..cycles {
        let mut tasks = Vec::new();
        for client_no in 0..clients {
            let console = Client::new(&server.base);
            console.try_sign_in(OWNER_EMAIL, OWNER_PASSWORD).await.expect("sign in");
            tasks.push(tokio::spawn(churn(console, client_no, cycle, seen.clone())));
        }
        let wait = rand::rng().random_range(200..800);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        server.kill_9();
        for t in tasks {
            t.await.expect("client task");
        }
        report.kills += 1;
        {
            let s = seen.lock().unwrap();
            assert!(s.server_errors.is_empty(), "errors before the kill: {:#?}", s.server_errors);
        }

        let restarted = Instant::now();
        server = ServerProcess::start(url, &log).await;
        report.restart_ms.push(restarted.elapsed().as_millis() as u64);
        let snapshot = {
            let s = seen.lock().unwrap();
            Seen {
                served: s.served.clone(),
                revoked: s.revoked.clone(),
                revoking: s.revoking.clone(),
                server_errors: Vec::new(),
            }
        };
        check_after_restart(url, &server.base, &snapshot, &mut report).await;
    }

    // The whole run's log and database hold no issued key.
    let secrets: Vec<String> = seen.lock().unwrap().served.iter().map(|(_, s)| s.clone()).collect();
    assert!(!secrets.is_empty());
    assert!(server.terminate(), "SIGTERM ends the server with status 0");
    let log_bytes = std::fs::read(&log).expect("read the log");
    assert!(
        !String::from_utf8_lossy(&log_bytes).contains("panicked"),
        "the server panicked:\n{}",
        String::from_utf8_lossy(&log_bytes)
    );
    assert_no_key_in(&log_bytes, &secrets, "the server log");
    assert_no_key_in(&dump_database(url), &secrets, "the database");
    report.keys_issued = secrets.len();
    report
}

#[derive(Debug, Default)]
pub struct CrashReport {
    pub kills: usize,
    pub keys_issued: usize,
    pub keys_checked_valid: usize,
    pub keys_checked_revoked: usize,
    pub restart_ms: Vec<u64>,
}

async fn check_after_restart(url: &DatabaseUrl, base: &str, seen: &Seen, report: &mut CrashReport) {
    let db = keyward::db::Db::connect(url, 1).expect("connect for checks");
    let mut conn = db.get().expect("connection");
    type KeyRow = (i64, String, String, String, String, String, Option<chrono::NaiveDateTime>);
    let rows: Vec<KeyRow> = api_keys::table
        .select((
            api_keys::id,
            api_keys::name,
            api_keys::prefix,
            api_keys::last4,
            api_keys::key_hash,
            api_keys::permissions,
            api_keys::revoked_at,
        ))
        .load(&mut *conn)
        .expect("load keys");
    let events: Vec<(String, Option<i64>)> = audit_events::table
        .select((audit_events::action, audit_events::key_id))
        .load(&mut *conn)
        .expect("load audit");
    let with_event = |action: &str| -> HashSet<i64> {
        events.iter().filter(|(a, _)| a == action).filter_map(|(_, k)| *k).collect()
    };
    let (created, revoked_events) = (with_event("key.created"), with_event("key.revoked"));

    // No half-written row, no key without its audit entry, no revocation without its entry.
    let mut by_hash: HashMap<String, (i64, bool)> = HashMap::new();
    for (id, name, prefix, last4, hash, permissions, revoked_at) in &rows {
        assert!(created.contains(id), "key {id} exists without a key.created audit entry");
        assert!(
            !name.is_empty() && !prefix.is_empty() && !permissions.is_empty(),
            "key {id} is half written"
        );
        assert_eq!(last4.len(), 4, "key {id} is half written");
        assert!(hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()), "key {id}: bad hash");
        assert_eq!(
            revoked_at.is_some(),
            revoked_events.contains(id),
            "key {id}: revocation and audit disagree"
        );
        by_hash.insert(hash.clone(), (*id, revoked_at.is_some()));
    }
    for id in &created {
        // A deleted key keeps its audit entry; nothing here deletes, so every entry has its row.
        assert!(rows.iter().any(|r| r.0 == *id), "audit says key {id} was created but it is missing");
    }

    // Every served key is there, and the verifier agrees with what the clients were told.
    let client = Client::new(base);
    let mut expectations = Vec::new();
    for (id, secret) in &seen.served {
        let hash = keyward::keys::ApiKey::parse(secret).expect("served keys parse").hash();
        let (row_id, revoked) =
            *by_hash.get(hash.as_str()).unwrap_or_else(|| panic!("served key {id} was lost in the crash"));
        assert_eq!(row_id, *id);
        if seen.revoked.contains(id) {
            assert!(revoked, "key {id}: its revocation returned, but it is not revoked");
            expectations.push((*id, secret.clone(), Verdict::Refused("revoked_key".into())));
        } else if !seen.revoking.contains(id) {
            assert!(!revoked, "key {id} is revoked though nobody asked");
            expectations.push((*id, secret.clone(), Verdict::Valid));
        }
    }
    // Asked 16 at a time: the answers are what is checked, not the pace.
    for chunk in expectations.chunks(16) {
        let answers =
            futures_util::future::join_all(chunk.iter().map(|(_, secret, _)| client.try_verify(secret)))
                .await;
        for ((id, _, want), got) in chunk.iter().zip(answers) {
            assert_eq!(&got.expect("verify"), want, "key {id}: what the verifier says after the restart");
            match want {
                Verdict::Valid => report.keys_checked_valid += 1,
                _ => report.keys_checked_revoked += 1,
            }
        }
    }
}

async fn keys_survive_kill_9_with_their_audit_entries_and_no_half_written_rows(backend: Backend) {
    let cycles = std::env::var("KEYWARD_CRASH_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let (_db, url) = TestDb::create(backend);
    let workdir = tempfile::tempdir().unwrap();
    let url = match url {
        // The binary is started outside the harness: on SQLite it gets a file of its own in the
        // work folder, by absolute path.
        DatabaseUrl::Sqlite(_) => DatabaseUrl::Sqlite(workdir.path().join("crash.db")),
        pg => pg,
    };
    let report = crash_cycles(&url, workdir.path(), cycles, 4).await;
    eprintln!("crash ({backend:?}): {report:?}");
    assert_eq!(report.kills, cycles);
    assert!(report.keys_checked_valid > 0, "{report:?}");
}
