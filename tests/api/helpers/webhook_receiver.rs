//! A webhook receiver for one test ([`Receiver`]): `tests/api/webhook_receiver.py`, run by
//! Debian's Python with the Standard Webhooks reference library (`standardwebhooks` from PyPI),
//! which verifies every request's signature as a real receiver would and records it. Killed when
//! dropped.
//!
//! Where the library is not installed its tests are skipped with a note, except under `CI`,
//! where they fail: `scripts/install-test-deps` installs it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PYTHON: &str = "/usr/bin/python3";
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/webhook_receiver.py");

/// One request as the receiver saw it.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Hit {
    pub id: Option<String>,
    pub timestamp: Option<String>,
    pub verified: bool,
    pub error: Option<String>,
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    pub body: String,
    pub user_agent: Option<String>,
    pub content_type: Option<String>,
    pub start: f64,
    pub end: f64,
    pub status: u16,
}

/// How the receiver answers.
#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    /// Answer 500 to this many requests first.
    pub fail_first: u32,
    /// The status after those (204 when 0).
    pub status: u16,
    /// Seconds to wait before answering.
    pub sleep: f64,
    /// Answer 302 to this address.
    pub redirect_to: Option<String>,
}

pub struct Receiver {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

fn installed() -> bool {
    Command::new(PYTHON)
        .args(["-c", "import standardwebhooks"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Receiver {
    /// A receiver on a free port, or `None` (with a note) where the library is missing
    /// outside CI.
    pub fn start(behaviour: Behaviour) -> Option<Self> {
        if !installed() {
            assert!(
                std::env::var_os("CI").is_none(),
                "the standardwebhooks Python package is not installed: run scripts/install-test-deps"
            );
            eprintln!("note: the standardwebhooks Python package is not installed; skipping a webhook test");
            return None;
        }
        let dir = tempfile::tempdir().expect("a directory for the receiver");
        std::fs::write(dir.path().join("secret"), "").expect("the secret file");
        let mut cmd = Command::new(PYTHON);
        cmd.arg(SCRIPT)
            .arg("--log")
            .arg(dir.path().join("hits.jsonl"))
            .arg("--secret-file")
            .arg(dir.path().join("secret"))
            .args(["--fail-first", &behaviour.fail_first.to_string()])
            .args(["--status", &if behaviour.status == 0 { 204 } else { behaviour.status }.to_string()])
            .args(["--sleep", &behaviour.sleep.to_string()]);
        if let Some(to) = &behaviour.redirect_to {
            cmd.args(["--redirect-to", to]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the receiver");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the receiver's first line");
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the receiver said {line:?}"));
        Some(Self { port, child, dir })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The signing secret the receiver verifies with from now on.
    pub fn set_secret(&self, secret: &str) {
        std::fs::write(self.dir.path().join("secret"), secret).expect("write the secret");
    }

    /// Every request so far, in the order they were answered.
    pub fn hits(&self) -> Vec<Hit> {
        let Ok(text) = std::fs::read_to_string(self.dir.path().join("hits.jsonl")) else { return Vec::new() };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    /// Waits until `done(hits)` holds, at most `within`; answers the hits either way.
    pub async fn wait_for(&self, within: Duration, done: impl Fn(&[Hit]) -> bool) -> Vec<Hit> {
        let deadline = Instant::now() + within;
        loop {
            let hits = self.hits();
            if done(&hits) || Instant::now() >= deadline {
                return hits;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
