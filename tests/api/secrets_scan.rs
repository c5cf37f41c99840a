//! Looks for issued keys where none may be: server logs and a full dump of the database.
#![allow(dead_code)]

use diesel::prelude::*;
use diesel::sql_types::Text;
use keyward::config::DatabaseUrl;

/// What to search for, per key: the whole key, and its random body alone (so a key stored
/// without its prefix or checksum is caught too).
pub fn needles(secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_owned()];
    if let Some(rest) = secret.strip_prefix("kw_live_").or_else(|| secret.strip_prefix("kw_test_"))
        && rest.len() >= 32
    {
        out.push(rest[..32].to_owned());
    }
    out
}

/// Panics naming the first key found in `haystack`. Every key's 32-character random body is
/// looked for inside every run of key characters (`A-Z a-z 0-9 _`), which covers the whole key
/// too, in one pass over the haystack.
#[track_caller]
pub fn assert_no_key_in(haystack: &[u8], secrets: &[String], what: &str) {
    let mut bodies: std::collections::HashMap<&[u8], &str> = std::collections::HashMap::new();
    for secret in secrets {
        for needle in needles(secret) {
            if needle.len() == 32 {
                bodies.insert(&secret.as_bytes()[secret.len() - needle.len() - 6..secret.len() - 6], secret);
            }
        }
        assert!(needles(secret).len() == 2, "not a key: {}…", &secret[..8.min(secret.len())]);
    }
    let is_key_char = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    for run in haystack.split(|b| !is_key_char(b)).filter(|r| r.len() >= 32) {
        for window in run.windows(32) {
            if let Some(secret) = bodies.get(window) {
                panic!("a key issued during the run appears in {what}: {}…", &secret[..12]);
            }
        }
    }
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    text: String,
}

/// Every byte the database holds for keyward. SQLite: the database file and its WAL, raw, so
/// free pages and not yet checkpointed writes are searched too. PostgreSQL: every row of
/// every table in the public schema, as JSON text.
pub fn dump_database(url: &DatabaseUrl) -> Vec<u8> {
    match url {
        DatabaseUrl::Sqlite(path) => {
            let mut out = std::fs::read(path).expect("read the SQLite file");
            for suffix in ["-wal", "-journal"] {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                if let Ok(bytes) = std::fs::read(&p) {
                    out.extend_from_slice(&bytes);
                }
            }
            out
        }
        DatabaseUrl::Postgres(u) => {
            let mut conn = PgConnection::establish(u).expect("connect for the dump");
            let tables: Vec<Row> = diesel::sql_query(
                "SELECT table_name::text AS text FROM information_schema.tables \
                 WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
            )
            .load(&mut conn)
            .expect("list tables");
            assert!(tables.iter().any(|t| t.text == "api_keys"), "the dump sees the schema");
            let mut out = Vec::new();
            for table in tables {
                let rows: Vec<Row> = diesel::sql_query(format!(
                    "SELECT row_to_json(t)::text AS text FROM \"{}\" t",
                    table.text
                ))
                .load(&mut conn)
                .expect("dump a table");
                for row in rows {
                    out.extend_from_slice(row.text.as_bytes());
                    out.push(b'\n');
                }
            }
            out
        }
    }
}

#[test]
#[should_panic(expected = "appears in the haystack")]
fn the_scanner_finds_a_key_body_inside_other_bytes() {
    let key = keyward::keys::ApiKey::generate(keyward::keys::Environment::Live);
    let body = &key.expose()[8..40];
    let haystack = [b"\x00\x01binary".as_slice(), b"x_", body.as_bytes(), b"\xff"].concat();
    assert_no_key_in(&haystack, &[key.expose().to_owned()], "the haystack");
}

#[test]
fn the_scanner_passes_bytes_without_keys() {
    let key = keyward::keys::ApiKey::generate(keyward::keys::Environment::Live);
    let other = keyward::keys::ApiKey::generate(keyward::keys::Environment::Live);
    assert_no_key_in(other.expose().as_bytes(), &[key.expose().to_owned()], "the haystack");
}

#[test]
#[should_panic(expected = "appears in the haystack")]
fn the_scanner_finds_a_test_key_too() {
    let key = keyward::keys::ApiKey::generate(keyward::keys::Environment::Test);
    assert!(key.expose().starts_with("kw_test_"));
    let haystack = format!("log line: key={}", key.expose());
    assert_no_key_in(haystack.as_bytes(), &[key.expose().to_owned()], "the haystack");
}

#[test]
fn every_key_prefix_has_its_random_body_looked_for() {
    for env in [keyward::keys::Environment::Live, keyward::keys::Environment::Test] {
        let key = keyward::keys::ApiKey::generate(env);
        assert_eq!(
            needles(key.expose()),
            [key.expose().to_owned(), key.expose()[8..40].to_owned()],
            "{env:?}"
        );
    }
}
