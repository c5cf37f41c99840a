//! Console traffic for `bench/soak.sh`: a few admins signing in, paging through the key table,
//! searching, creating, regenerating and revoking keys through the real forms, and checking
//! every verdict the verifier gives about the keys they touched.
//!
//! ```text
//! console_traffic make-keys BASE N OUT       # set up (or sign in), create N keys, write them to OUT
//! console_traffic run BASE SECONDS CLIENTS SECRETS_OUT
//! console_traffic seed DATABASE_URL WORKSPACE_ID N   # N keys straight into the database
//! ```
//! `run` prints one line `CONSOLE_RESULT key=value …` and exits non-zero on any 5xx or any
//! wrong verdict. Every key it was shown is appended to SECRETS_OUT, so the script can check
//! that none reached the server log or the database.

#[path = "../tests/api/helpers/client.rs"]
mod client;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use client::{Client, Failure, Verdict};

const EMAIL: &str = "soak@example.com";
const PASSWORD: &str = "soak test password 1";

#[derive(Default)]
struct Tally {
    ops: u64,
    pages: u64,
    created: u64,
    regenerated: u64,
    revoked: u64,
    sign_ins: u64,
    verifications: u64,
    server_errors: u64,
    wrong_verdicts: u64,
    other_failures: u64,
    page_micros: Vec<u64>,
    write_micros: Vec<u64>,
    messages: Vec<String>,
}

impl Tally {
    fn fail(&mut self, e: &Failure) {
        if e.is_server_error() {
            self.server_errors += 1;
        } else {
            self.other_failures += 1;
        }
        if self.messages.len() < 20 {
            self.messages.push(e.to_string());
        }
    }

    fn wrong(&mut self, what: String) {
        self.wrong_verdicts += 1;
        if self.messages.len() < 20 {
            self.messages.push(what);
        }
    }
}

/// The soak admin, signed in; the first one to come sets the instance up.
async fn signed_in(base: &str) -> Result<Client, Failure> {
    let client = Client::new(base);
    // The fresh server's setup code, which the soak script reads from the server's log.
    let code = std::env::var("SOAK_SETUP_CODE").unwrap_or_default();
    match client.try_setup(&code, EMAIL, PASSWORD, "Soak").await {
        Ok(()) => Ok(client),
        Err(_) => sign_in(base).await,
    }
}

/// A fresh browser signed in as the soak admin.
async fn sign_in(base: &str) -> Result<Client, Failure> {
    let client = Client::new(base);
    client.try_sign_in(EMAIL, PASSWORD).await?;
    Ok(client)
}

fn percentile(v: &mut [u64], p: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Checks the verifier's verdict, counting a wrong one.
async fn expect_verdict(console: &Client, tally: &Mutex<Tally>, secret: &str, want: &Verdict, what: &str) {
    let got = console.try_verify(secret).await;
    let mut t = tally.lock().unwrap();
    t.verifications += 1;
    match got {
        Ok(v) if &v == want => {}
        Ok(v) => t.wrong(format!("{what}: verifier said {v:?}, expected {want:?}")),
        Err(e) => t.fail(&e),
    }
}

async fn client_loop(
    base: String,
    until: Instant,
    client_no: usize,
    tally: Arc<Mutex<Tally>>,
    secrets: Arc<Mutex<std::fs::File>>,
) {
    let mut console = match signed_in(&base).await {
        Ok(c) => c,
        Err(e) => {
            tally.lock().unwrap().fail(&e);
            return;
        }
    };
    let revoked_valid = Verdict::Refused("revoked_key".into());
    let mut live: Vec<(i64, String)> = Vec::new();
    let mut dead: Vec<String> = Vec::new();
    let mut n: u64 = 0;
    let pages = [
        "/settings/api-keys",
        "/settings/api-keys?page=2",
        "/settings/api-keys?q=soak",
        "/settings/api-keys?status=revoked",
        "/settings/audit-log",
    ];
    while Instant::now() < until {
        n += 1;
        tally.lock().unwrap().ops += 1;
        let started = Instant::now();
        match n % 10 {
            // A fresh sign-in now and then: argon2 and a new session row under load.
            0 if n.is_multiple_of(50) => match sign_in(&base).await {
                Ok(c) => {
                    console = c;
                    tally.lock().unwrap().sign_ins += 1;
                }
                Err(e) => tally.lock().unwrap().fail(&e),
            },
            0..=3 => {
                let path = pages[(n as usize / 10 + client_no) % pages.len()];
                let r = console.try_page_text("table page", path).await;
                let mut t = tally.lock().unwrap();
                match r {
                    Ok(_) => {
                        t.pages += 1;
                        t.page_micros.push(started.elapsed().as_micros() as u64);
                    }
                    Err(e) => t.fail(&e),
                }
            }
            4..=6 => match console
                .try_create_key(&format!("soak {client_no}-{n}"), &["records:read"], "never")
                .await
            {
                Ok(k) => {
                    {
                        let mut t = tally.lock().unwrap();
                        t.created += 1;
                        t.write_micros.push(started.elapsed().as_micros() as u64);
                    }
                    let _ = writeln!(secrets.lock().unwrap(), "{}", k.secret);
                    expect_verdict(&console, &tally, &k.secret, &Verdict::Valid, "a new key").await;
                    live.push((k.id, k.secret));
                }
                Err(e) => tally.lock().unwrap().fail(&e),
            },
            7 if !live.is_empty() => {
                let (id, old) = live.remove(n as usize % live.len());
                match console.try_regenerate(id).await {
                    Ok(k) => {
                        {
                            let mut t = tally.lock().unwrap();
                            t.regenerated += 1;
                            t.write_micros.push(started.elapsed().as_micros() as u64);
                        }
                        let _ = writeln!(secrets.lock().unwrap(), "{}", k.secret);
                        // The old secret is refused as soon as the regeneration returned.
                        let got = console.try_verify(&old).await;
                        {
                            let mut t = tally.lock().unwrap();
                            t.verifications += 1;
                            match got {
                                Ok(Verdict::Refused(_)) => {}
                                Ok(v) => {
                                    t.wrong(format!("a regenerated key's old secret: verifier said {v:?}"))
                                }
                                Err(e) => t.fail(&e),
                            }
                        }
                        expect_verdict(&console, &tally, &k.secret, &Verdict::Valid, "a regenerated key")
                            .await;
                        dead.push(old);
                        live.push((k.id, k.secret));
                    }
                    Err(e) => {
                        tally.lock().unwrap().fail(&e);
                        live.push((id, old));
                    }
                }
            }
            8 if !live.is_empty() => {
                let (id, secret) = live.remove(n as usize % live.len());
                match console.try_revoke(id).await {
                    Ok(()) => {
                        {
                            let mut t = tally.lock().unwrap();
                            t.revoked += 1;
                            t.write_micros.push(started.elapsed().as_micros() as u64);
                        }
                        expect_verdict(&console, &tally, &secret, &revoked_valid, "a revoked key").await;
                        dead.push(secret);
                    }
                    Err(e) => {
                        tally.lock().unwrap().fail(&e);
                        live.push((id, secret));
                    }
                }
            }
            _ => {
                // Keys taken back earlier stay refused; live ones stay valid.
                if let Some(old) = dead.get(n as usize % dead.len().max(1)) {
                    let got = console.try_verify(old).await;
                    let mut t = tally.lock().unwrap();
                    t.verifications += 1;
                    match got {
                        Ok(Verdict::Refused(_)) => {}
                        Ok(v) => t.wrong(format!("a key revoked or replaced earlier: verifier said {v:?}")),
                        Err(e) => t.fail(&e),
                    }
                }
                if let Some((_, secret)) = live.get(n as usize % live.len().max(1)) {
                    expect_verdict(&console, &tally, secret, &Verdict::Valid, "a live key").await;
                }
            }
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("make-keys") if args.len() == 5 => {
            let (base, n, out) = (&args[2], args[3].parse::<usize>().expect("N"), &args[4]);
            let console = signed_in(base).await.unwrap_or_else(|e| panic!("{e}"));
            let mut file = std::fs::File::create(out).expect("output file");
            for i in 0..n {
                let k = console
                    .try_create_key(&format!("wrk {i}"), &["records:read"], "never")
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                writeln!(file, "{}", k.secret).unwrap();
            }
        }
        Some("run") if args.len() == 6 => {
            let base = args[2].clone();
            let seconds: u64 = args[3].parse().expect("SECONDS");
            let clients: usize = args[4].parse().expect("CLIENTS");
            let secrets = Arc::new(Mutex::new(
                std::fs::File::options().create(true).append(true).open(&args[5]).expect("secrets file"),
            ));
            let tally = Arc::new(Mutex::new(Tally::default()));
            let until = Instant::now() + Duration::from_secs(seconds);
            let tasks: Vec<_> = (0..clients)
                .map(|c| tokio::spawn(client_loop(base.clone(), until, c, tally.clone(), secrets.clone())))
                .collect();
            for t in tasks {
                t.await.expect("client");
            }
            let mut t = tally.lock().unwrap();
            for m in &t.messages {
                eprintln!("console_traffic: {m}");
            }
            let (p50, p99) = (percentile(&mut t.page_micros, 0.5), percentile(&mut t.page_micros, 0.99));
            let (w50, w99) = (percentile(&mut t.write_micros, 0.5), percentile(&mut t.write_micros, 0.99));
            println!(
                "CONSOLE_RESULT ops={} pages={} created={} regenerated={} revoked={} sign_ins={} verifications={} \
                 s5xx={} wrong={} other_failures={} page_p50_ms={:.1} page_p99_ms={:.1} write_p50_ms={:.1} write_p99_ms={:.1}",
                t.ops,
                t.pages,
                t.created,
                t.regenerated,
                t.revoked,
                t.sign_ins,
                t.verifications,
                t.server_errors,
                t.wrong_verdicts,
                t.other_failures,
                p50 as f64 / 1000.0,
                p99 as f64 / 1000.0,
                w50 as f64 / 1000.0,
                w99 as f64 / 1000.0,
            );
            if t.server_errors > 0 || t.wrong_verdicts > 0 || t.other_failures > 0 {
                std::process::exit(1);
            }
        }
        Some("seed") if args.len() == 5 => {
            let ws: i64 = args[3].parse().expect("WORKSPACE_ID");
            let n: usize = args[4].parse().expect("N");
            seed(&args[2], ws, n);
        }
        _ => {
            eprintln!(
                "usage: console_traffic make-keys BASE N OUT | run BASE SECONDS CLIENTS SECRETS_OUT \
                 | seed DATABASE_URL WORKSPACE_ID N"
            );
            std::process::exit(2);
        }
    }
}

/// Fills a workspace with `n` keys for the console benchmark: varied names (one in 10,000 is
/// a "rare" one, for a search with few matches), a tenth revoked, a tenth expired. The secrets
/// are generated and thrown away: only their hashes are stored, as the console would.
fn seed(url: &str, workspace_id: i64, n: usize) {
    use diesel::prelude::*;
    use keyward::db::schema::api_keys;
    use keyward::db::{DbConnection, DbError};

    let url = keyward::config::DatabaseUrl::parse(url).expect("database URL");
    let db = keyward::db::Db::connect(&url, 1).expect("connect");
    let now = chrono::Utc::now().naive_utc();
    let words = ["deploy bot", "ci runner", "billing sync", "partner api", "mobile app", "backup job"];
    for chunk_start in (0..n).step_by(10_000) {
        let end = (chunk_start + 10_000).min(n);
        db.write_blocking(|conn: &mut DbConnection| -> Result<(), DbError> {
            for i in chunk_start..end {
                let key = keyward::keys::ApiKey::generate(keyward::keys::Environment::Live);
                let name = if i % 10_000 == 7 {
                    format!("rare zebra {i}")
                } else {
                    format!("{} {i}", words[i % words.len()])
                };
                let created = now - chrono::TimeDelta::seconds((n - i) as i64);
                let expires = (i % 10 == 3).then(|| now - chrono::TimeDelta::days(1));
                let revoked = (i % 10 == 5).then_some(now);
                diesel::insert_into(api_keys::table)
                    .values((
                        api_keys::workspace_id.eq(workspace_id),
                        api_keys::search_name.eq(keyward::keys::search_form(&name)),
                        api_keys::name.eq(name),
                        api_keys::prefix.eq("kw_live_"),
                        api_keys::last4.eq(key.last4()),
                        api_keys::key_hash.eq(key.hash().as_str()),
                        api_keys::permissions.eq("records:read"),
                        api_keys::expiry_rule.eq(if expires.is_some() { "30" } else { "never" }),
                        api_keys::created_at.eq(created),
                        api_keys::expires_at.eq(expires),
                        api_keys::revoked_at.eq(revoked),
                    ))
                    .execute(conn)?;
            }
            Ok(())
        })
        .expect("seed keys");
    }
    println!("seeded {n} keys into workspace {workspace_id}");
}
