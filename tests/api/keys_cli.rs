//! `keyward keys list|create|revoke`, run as a real process against the test server's
//! database, beside the console and the verifier.

use std::process::{Output, Stdio};

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use keyward::config::DatabaseUrl;
use keyward::keys::policy::Policy;

use crate::both_backends;
use crate::helpers::db::{audit_rows, first_workspace, insert_webhook_endpoint, set_policy, webhook_events};
use crate::helpers::{Backend, TestApp, Verdict, keyward_command, spawn_app, url_arg};
use crate::secrets_scan::{assert_no_key_in, dump_database};

both_backends! {
    keys_list_prints_a_table_and_json,
    keys_create_prints_a_key_that_works_once,
    keys_create_refuses_what_the_console_refuses,
    keys_revoke_is_audited_as_system_and_the_key_stops_working,
    keys_commands_name_the_workspaces_when_none_matches,
}

/// `keyward keys ARGS…` on the database of `url`, to completion.
fn keys(url: &DatabaseUrl, args: &[&str]) -> Output {
    keyward_command()
        .arg("keys")
        .args(args)
        .env("KEYWARD_DATABASE_URL", url_arg(url))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run keyward")
}

/// The same, off the async runtime (the test server answers meanwhile).
async fn run(app: &TestApp, args: &[&str]) -> Output {
    let url = app.database_url.clone();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || keys(&url, &args.iter().map(String::as_str).collect::<Vec<_>>()))
        .await
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// Runs a command that must succeed; its standard output.
async fn ok(app: &TestApp, args: &[&str]) -> String {
    let out = run(app, args).await;
    assert!(out.status.success(), "keys {args:?} failed: {}", stderr(&out));
    stdout(&out)
}

/// Runs a command that must fail with exit code 1 (a refusal, not a usage error) and print
/// nothing on standard output; its one line of standard error.
async fn refused(app: &TestApp, args: &[&str]) -> String {
    let out = run(app, args).await;
    assert_eq!(out.status.code(), Some(1), "keys {args:?}: {}{}", stdout(&out), stderr(&out));
    assert_eq!(stdout(&out), "", "keys {args:?}");
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    err
}

async fn json(app: &TestApp, args: &[&str]) -> Value {
    let text = ok(app, args).await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("a time: {v}"))).unwrap().to_utc()
}

async fn keys_list_prints_a_table_and_json(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
    let old = web.create_key("Old bot", &["records:read"], "30").await;
    web.revoke(old.id).await;
    let deploy = web.create_key("Deploy bot", &["records:read", "files:read"], "never").await;
    let made = json(
        &app,
        &[
            "create",
            "--workspace",
            "Acme",
            "--name",
            "Test bot",
            "--permission",
            "records:read",
            "--environment",
            "test",
            "--json",
        ],
    )
    .await;
    let test_id = made["id"].as_i64().unwrap();

    let table = ok(&app, &["list", "--workspace", "Acme"]).await;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    for column in ["ID", "NAME", "KEY", "PERMISSIONS", "STATUS", "EXPIRES", "LAST USED", "CREATED BY"] {
        assert!(lines[0].contains(column), "{table}");
    }
    // Newest first, columns aligned: each row's key starts where the header's KEY does.
    assert!(lines[1].starts_with(&format!("{test_id} ")) && lines[1].contains("Test bot"), "{table}");
    assert!(lines[2].contains("Deploy bot") && lines[3].contains("Old bot"), "{table}");
    let key_at = lines[0].find("KEY").unwrap();
    assert!(lines[2][key_at..].starts_with("kw_live_\u{2026}"), "{table}");
    assert!(lines[2].contains("files:read, records:read") && lines[2].contains("Active"), "{table}");
    assert!(lines[2].contains(crate::helpers::OWNER_EMAIL) && lines[2].contains("never"), "{table}");
    assert!(lines[1].contains("kw_test_") && lines[1].ends_with("system"), "{table}");
    assert!(lines[3].contains("Revoked"), "{table}");
    assert!(!table.contains(&deploy.secret) && !table.contains(&old.secret), "no secret in a listing");

    let all = json(&app, &["list", "--workspace", "acme", "--json"]).await;
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 3);
    let d = &all[1];
    assert_eq!(d["id"], deploy.id);
    assert_eq!(d["name"], "Deploy bot");
    assert_eq!(d["masked_key"], format!("kw_live_\u{2026}{}", &deploy.secret[deploy.secret.len() - 4..]));
    assert_eq!(d["environment"], "live");
    assert_eq!(d["permissions"], serde_json::json!(["files:read", "records:read"]));
    assert_eq!(d["status"], "active");
    assert_eq!(d["created_by"], crate::helpers::OWNER_EMAIL);
    assert!((Utc::now() - time(&d["created_at"])).num_seconds().abs() < 120, "{d}");
    assert!(d["expires_at"].is_null() && d["last_used_at"].is_null() && d["revoked_at"].is_null(), "{d}");
    assert_eq!(all[2]["status"], "revoked");
    time(&all[2]["revoked_at"]);
    let fields: Vec<&String> = d.as_object().unwrap().keys().collect();
    assert_eq!(fields.len(), 11, "exactly the documented fields: {fields:?}");

    let revoked = json(&app, &["list", "--workspace", "Acme", "--status", "revoked", "--json"]).await;
    assert_eq!(revoked.as_array().unwrap().len(), 1);
    assert_eq!(revoked[0]["id"], old.id);
    let test = json(&app, &["list", "--workspace", "Acme", "--environment", "test", "--json"]).await;
    assert_eq!(test.as_array().unwrap().len(), 1);
    assert_eq!(test[0]["id"], test_id);
    let live_active =
        json(&app, &["list", "--workspace", "Acme", "--status", "active", "--environment", "live", "--json"])
            .await;
    assert_eq!(live_active.as_array().unwrap().len(), 1);
    assert_eq!(
        ok(&app, &["list", "--workspace", "Acme", "--status", "expired"]).await.trim(),
        "No keys match."
    );
    assert_eq!(
        json(&app, &["list", "--workspace", "Acme", "--status", "expired", "--json"]).await,
        serde_json::json!([])
    );
    // A value clap does not know is a usage error: exit code 2.
    let usage = run(&app, &["list", "--workspace", "Acme", "--status", "gone"]).await;
    assert_eq!(usage.status.code(), Some(2), "{}", stderr(&usage));
}

async fn keys_create_prints_a_key_that_works_once(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let ws = first_workspace(&app).await.to_string();

    // By id, with the default expiry (30 days, as on the console's form).
    let made = json(
        &app,
        &[
            "create",
            "--workspace",
            &ws,
            "--name",
            "Deploy bot",
            "--permissions",
            "records:read, files:read",
            "--json",
        ],
    )
    .await;
    let key = made["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("kw_live_"), "{made}");
    assert_eq!(made["name"], "Deploy bot");
    assert_eq!(made["masked_key"], format!("kw_live_\u{2026}{}", &key[key.len() - 4..]));
    assert_eq!(made["permissions"], serde_json::json!(["files:read", "records:read"]));
    assert_eq!(made["status"], "active");
    assert_eq!(made["created_by"], "system");
    let lifetime = time(&made["expires_at"]) - time(&made["created_at"]);
    assert_eq!(lifetime, Duration::days(30), "{made}");
    assert_eq!(app.client().verify(&key).await, Verdict::Valid);

    // As text: the key once, with the warning; a fixed date; full access with `*`.
    let day = (Utc::now() + Duration::days(10)).date_naive().to_string();
    let out = run(
        &app,
        &["create", "--workspace", "ACME", "--name", "Ops", "--permission", "*", "--expires", &day],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let secret = text.split_whitespace().find(|w| w.starts_with("kw_live_")).expect("the key").to_owned();
    assert!(text.contains("will not be shown again") && text.contains("Full access"), "{text}");
    assert_eq!(app.client().verify(&secret).await, Verdict::Valid);

    // Audited like the console's creations, by the system; the secret is in no log.
    let rows = audit_rows(&app).await;
    let created: Vec<_> = rows.iter().filter(|r| r.1 == "key.created").collect();
    assert_eq!(created.len(), 2, "{rows:?}");
    assert!(created.iter().all(|r| r.0 == "system"), "{rows:?}");
    assert!(
        created[0].3.contains("files:read, records:read") && created[0].3.contains("expires:"),
        "{rows:?}"
    );
    assert!(rows.iter().all(|r| !r.3.contains(&key) && !r.3.contains(&secret)), "{rows:?}");
    assert!(!stderr(&out).contains(&secret), "{}", stderr(&out));
    let url = app.database_url.clone();
    let secrets = [key.clone(), secret.clone()];
    tokio::task::spawn_blocking(move || assert_no_key_in(&dump_database(&url), &secrets, "the database"))
        .await
        .unwrap();
    let listed = ok(&app, &["list", "--workspace", "Acme"]).await;
    assert!(!listed.contains(&key) && !listed.contains(&secret), "{listed}");

    // A name in use by an active key: the operation's own refusal.
    let taken = refused(
        &app,
        &["create", "--workspace", "Acme", "--name", "deploy BOT", "--permission", "records:read"],
    )
    .await;
    assert!(taken.contains("An active key named \u{201c}Deploy bot\u{201d} already exists."), "{taken}");
}

async fn keys_create_refuses_what_the_console_refuses(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let create = |extra: &[&str]| {
        let mut args = vec!["create", "--workspace", "Acme"];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<String>>()
    };
    let cases: [(&[&str], &str); 6] = [
        (&["--name", "  ", "--permission", "records:read"], "--name: Enter a name for the key."),
        (
            &["--name", "Bot", "--permission", "records:fly"],
            "--permission: Unknown permission `records:fly`.",
        ),
        (&["--name", "Bot"], "--permission: Choose at least one permission, or Full access."),
        (
            &["--name", "Bot", "--permission", "records:read", "--expires", "45d"],
            "Choose one of the offered expiration periods.",
        ),
        (
            &["--name", "Bot", "--permission", "records:read", "--expires", "2020-01-01"],
            "Pick a date after today",
        ),
        (
            &["--name", &"x".repeat(65), "--permission", "records:read"],
            "Use at most 64 characters (this name has 65).",
        ),
    ];
    for (extra, message) in cases {
        let args = create(extra);
        let err = refused(&app, &args.iter().map(String::as_str).collect::<Vec<_>>()).await;
        assert!(err.contains(message), "{extra:?}: {err}");
    }
    // Every refused argument at once, as the form shows them.
    let both = refused(&app, &["create", "--workspace", "Acme", "--name", "", "--expires", "soon"]).await;
    assert!(
        both.contains("--name:") && both.contains("--permission:") && both.contains("--expires"),
        "{both}"
    );

    // The workspace's policy, checked by the same operation: its default and its refusals.
    let ws = first_workspace(&app).await;
    set_policy(&app, ws, Policy { max_lifetime_days: Some(14), ..Policy::default() }).await;
    let never = refused(
        &app,
        &[
            "create",
            "--workspace",
            "Acme",
            "--name",
            "Bot",
            "--permission",
            "records:read",
            "--expires",
            "never",
        ],
    )
    .await;
    assert!(never.contains("policy allows keys to live at most 14 days"), "{never}");
    assert_eq!(
        json(&app, &["list", "--workspace", "Acme", "--json"]).await,
        serde_json::json!([]),
        "nothing made"
    );
    let made = json(
        &app,
        &["create", "--workspace", "Acme", "--name", "Bot", "--permission", "records:read", "--json"],
    )
    .await;
    assert_eq!(
        time(&made["expires_at"]) - time(&made["created_at"]),
        Duration::days(7),
        "the longest preset allowed"
    );
    assert!(audit_rows(&app).await.iter().filter(|r| r.1 == "key.created").count() == 1);
}

async fn keys_revoke_is_audited_as_system_and_the_key_stops_working(backend: Backend) {
    let app = spawn_app(backend).await;
    app.setup_owner().await;
    let web = app.client();
    let key = web.create_key("Deploy bot", &["records:read"], "30").await;
    insert_webhook_endpoint(&app, first_workspace(&app).await, "key.created key.revoked").await;
    assert_eq!(web.verify(&key.secret).await, Verdict::Valid);
    let id = key.id.to_string();

    let text = ok(&app, &["revoke", "--workspace", "acme", &id, "--reason", "Leaked in a build log"]).await;
    assert!(text.contains("Deploy bot") && text.contains("kw_live_\u{2026}"), "{text}");
    assert!(!text.contains(&key.secret));
    assert_eq!(web.verify(&key.secret).await, Verdict::Refused("revoked_key".into()));
    let rows = audit_rows(&app).await;
    let revoked = rows.iter().find(|r| r.1 == "key.revoked").unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!(revoked.0, "system");
    assert_eq!(revoked.2, Some(key.id));
    assert_eq!(revoked.3, "Leaked in a build log");
    // Webhook receivers hear of it as of a revocation on the console.
    let events = webhook_events(&app).await;
    let event = events.iter().find(|e| e.0 == "key.revoked").unwrap_or_else(|| panic!("{events:?}"));
    let payload: Value = serde_json::from_str(&event.1).unwrap();
    assert_eq!(payload["data"]["key"]["id"], key.id, "{payload}");
    assert_eq!(payload["data"]["key"]["status"], "revoked", "{payload}");

    let again = refused(&app, &["revoke", "--workspace", "Acme", &id]).await;
    assert!(again.contains("\u{201c}Deploy bot\u{201d} is already revoked."), "{again}");
    let unknown = refused(&app, &["revoke", "--workspace", "Acme", "999999"]).await;
    assert!(unknown.contains("There is no such key in this workspace."), "{unknown}");
    assert_eq!(audit_rows(&app).await.iter().filter(|r| r.1 == "key.revoked").count(), 1);

    // With --json: the key as it now stands.
    let other = web.create_key("Other", &["records:read"], "30").await;
    let ws = first_workspace(&app).await.to_string();
    let gone = json(&app, &["revoke", "--workspace", &ws, &other.id.to_string(), "--json"]).await;
    assert_eq!(gone["id"], other.id);
    assert_eq!(gone["status"], "revoked");
    time(&gone["revoked_at"]);
    assert!(gone.get("key").is_none(), "{gone}");
    assert_eq!(web.verify(&other.secret).await, Verdict::Refused("revoked_key".into()));
}

async fn keys_commands_name_the_workspaces_when_none_matches(backend: Backend) {
    let app = spawn_app(backend).await;
    let none = refused(&app, &["list", "--workspace", "Acme"]).await;
    assert!(none.contains("no workspaces yet"), "{none}");
    app.setup_owner().await;
    let ws = first_workspace(&app).await;
    for args in [
        vec!["list", "--workspace", "Initech"],
        vec!["create", "--workspace", "Initech", "--name", "Bot", "--permission", "records:read"],
        vec!["revoke", "--workspace", "Initech", "1"],
    ] {
        let err = refused(&app, &args).await;
        assert!(
            err.contains("\u{201c}Initech\u{201d}") && err.contains(&format!("{ws} \u{201c}Acme\u{201d}")),
            "{err}"
        );
    }
    assert_eq!(json(&app, &["list", "--workspace", "Acme", "--json"]).await, serde_json::json!([]));
}
