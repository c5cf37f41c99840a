//! `/metrics`: absent without `KEYWARD_METRICS_TOKEN`, refused without the token, and, read by
//! the reference Prometheus parser, counting exactly the verifications, cache lookups, sign-in
//! failures and usage flushes the test caused, with no key, name or account in any label.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Command, Stdio};

use keyward::config::MetricsToken;
use keyward::keys::{ApiKey, Environment};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::db::{SeedKey, seed_key};
use crate::helpers::{Backend, OWNER_EMAIL, TestApp, spawn_app, spawn_app_with};

both_backends! {
    metrics_do_not_exist_without_a_token,
    metrics_count_what_the_test_did,
}

const TOKEN: &str = "a-scrape-token-for-the-tests";

async fn spawn_with_metrics(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| s.metrics_token = Some(MetricsToken::parse(TOKEN).unwrap())).await
}

/// The samples of a scrape, as the reference parser reads them.
fn parse(text: &str) -> Vec<Value> {
    let mut child = Command::new("/usr/bin/python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/metrics_parse.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (scripts/install-test-deps installs python3-prometheus-client)");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the parser refused the scrape: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout).unwrap().as_array().unwrap().clone()
}

async fn scrape(app: &TestApp) -> Vec<Value> {
    let res = app.client().get_request("/metrics").bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    assert_eq!(res.headers()["cache-control"], "no-store");
    parse(&res.text().await.unwrap())
}

fn value(samples: &[Value], name: &str, labels: Value) -> f64 {
    let found: Vec<&Value> = samples
        .iter()
        .filter(|s| {
            s["name"] == name && labels.as_object().unwrap().iter().all(|(k, v)| &s["labels"][k] == v)
        })
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels}: {found:?}");
    found[0]["value"].as_f64().unwrap()
}

async fn metrics_do_not_exist_without_a_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app.client().get_request("/metrics").bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

async fn metrics_count_what_the_test_did(backend: Backend) {
    let app = spawn_with_metrics(backend).await;
    app.setup_owner().await;
    let web = app.new_client();

    // Refused without the token, or with another one.
    let res = web.get_request("/metrics").send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["code"], "metrics_token_required");
    let res = web.get_request("/metrics").bearer_auth("a-scrape-token-for-the-testz").send().await.unwrap();
    assert_eq!(res.status(), 401);

    let good =
        seed_key(&app, SeedKey { name: "Billing export", permissions: "records:read", ..Default::default() })
            .await;
    let revoked = seed_key(&app, SeedKey { name: "Old importer", revoked: true, ..Default::default() }).await;
    let unknown = ApiKey::generate(Environment::Live);
    let verify = |key: String| {
        let web = web.clone();
        async move {
            let res =
                web.post_request("/api/v1/keys/verify").json(&json!({ "key": key })).send().await.unwrap();
            assert_eq!(res.status(), 200);
        }
    };
    let auth = |key: Option<String>, require: Option<&'static str>| {
        let web = web.clone();
        async move {
            let mut req = web.get_request("/api/v1/auth");
            if let Some(k) = key {
                req = req.header("X-Api-Key", k);
            }
            if let Some(r) = require {
                req = req.header("X-Keyward-Require", r);
            }
            req.send().await.unwrap().status().as_u16()
        }
    };
    for _ in 0..3 {
        verify(good.secret().to_owned()).await;
    }
    for _ in 0..2 {
        verify(revoked.secret().to_owned()).await;
    }
    verify("kw_live_not-a-key".to_owned()).await;
    for _ in 0..2 {
        assert_eq!(auth(Some(good.secret().to_owned()), None).await, 200);
    }
    for _ in 0..2 {
        assert_eq!(auth(Some(good.secret().to_owned()), Some("records:write")).await, 403);
    }
    assert_eq!(auth(None, None).await, 401);
    let whoami = |key: String| {
        let web = web.clone();
        async move { web.get_request("/api/v1/whoami").header("X-Api-Key", key).send().await.unwrap().status() }
    };
    assert_eq!(whoami(good.secret().to_owned()).await, 200);
    assert_eq!(whoami(unknown.expose().to_owned()).await, 401);
    // Not a verification: the wrong method, and the do-nothing handler.
    assert_eq!(web.get_request("/api/v1/keys/verify").send().await.unwrap().status(), 405);
    assert_eq!(web.get_request("/api/v1/ping").send().await.unwrap().status(), 200);
    // A failed sign-in.
    assert_eq!(web.sign_in(OWNER_EMAIL, "not the password at all").await.status(), 401);

    let expected: BTreeMap<(&str, &str), f64> = BTreeMap::from([
        (("verify", "ok"), 3.0),
        (("verify", "revoked_key"), 2.0),
        (("verify", "malformed_key"), 1.0),
        (("auth", "ok"), 2.0),
        (("auth", "insufficient_permission"), 2.0),
        (("auth", "missing_key"), 1.0),
        (("whoami", "ok"), 1.0),
        (("whoami", "unknown_key"), 1.0),
    ]);
    let samples = scrape(&app).await;
    let counters: Vec<&Value> =
        samples.iter().filter(|s| s["name"] == "keyward_verifications_total").collect();
    assert!(
        counters.len() >= 3 * 17,
        "every entry and outcome is a series from the start: {}",
        counters.len()
    );
    for c in &counters {
        let (entry, outcome) =
            (c["labels"]["entry"].as_str().unwrap(), c["labels"]["outcome"].as_str().unwrap());
        let want = expected.get(&(entry, outcome)).copied().unwrap_or(0.0);
        assert_eq!(c["value"].as_f64().unwrap(), want, "verifications {entry}/{outcome}");
    }
    for (entry, n) in [("verify", 6.0), ("auth", 5.0), ("whoami", 2.0)] {
        let count = value(&samples, "keyward_verification_duration_seconds_count", json!({"entry": entry}));
        assert_eq!(count, n, "latency observations at {entry}");
        let inf = value(
            &samples,
            "keyward_verification_duration_seconds_bucket",
            json!({"entry": entry, "le": "+Inf"}),
        );
        assert_eq!(inf, n);
    }
    // Every request that presented a well-formed key looked it up once, from memory or not.
    let hits = value(&samples, "keyward_key_cache_hits_total", json!({}));
    let misses = value(&samples, "keyward_key_cache_misses_total", json!({}));
    assert_eq!(hits + misses, 3.0 + 2.0 + 4.0 + 2.0, "hits {hits}, misses {misses}");
    assert!(misses >= 3.0, "each of the three keys was read at least once: {misses}");
    assert_eq!(value(&samples, "keyward_sign_in_failures_total", json!({"reason": "password"})), 1.0);
    assert_eq!(value(&samples, "keyward_sign_in_failures_total", json!({"reason": "two_factor"})), 0.0);
    let max = value(&samples, "keyward_db_pool_max_connections", json!({}));
    assert_eq!(max, f64::from(app.state.settings.pool_size));
    let in_use = value(&samples, "keyward_db_pool_connections", json!({"state": "in_use"}));
    let idle = value(&samples, "keyward_db_pool_connections", json!({"state": "idle"}));
    assert!(in_use + idle >= 1.0 && in_use + idle <= max, "in use {in_use}, idle {idle}");

    // No key, key id, name or account in any label: every label value is from a fixed list.
    let fixed: BTreeSet<&str> =
        ["verify", "auth", "whoami", "password", "two_factor", "throttled", "in_use", "idle"]
            .into_iter()
            .chain(keyward::metrics::OUTCOMES.iter().copied())
            .collect();
    for s in &samples {
        for (label, v) in s["labels"].as_object().unwrap() {
            let v = v.as_str().unwrap();
            let allowed = match label.as_str() {
                "le" => v == "+Inf" || v.parse::<f64>().is_ok(),
                "version" => v == env!("CARGO_PKG_VERSION"),
                _ => fixed.contains(v),
            };
            assert!(allowed, "label {label}={v} on {}", s["name"]);
        }
    }
    let text =
        app.client().get_request("/metrics").bearer_auth(TOKEN).send().await.unwrap().text().await.unwrap();
    for secret_or_name in [good.secret(), "kw_live_", "Billing export", OWNER_EMAIL, "Seeded"] {
        assert!(!text.contains(secret_or_name), "{secret_or_name} in the scrape");
    }

    // The usage the verifications left is written by the next flush, which is timed.
    let v = app.verifier.clone().into_inner();
    tokio::task::spawn_blocking(move || v.flush_blocking()).await.unwrap();
    let samples = scrape(&app).await;
    assert!(value(&samples, "keyward_usage_flush_duration_seconds_count", json!({})) >= 1.0);
    assert_eq!(value(&samples, "keyward_usage_flush_failures_total", json!({})), 0.0);
}
