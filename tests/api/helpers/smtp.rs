//! A real SMTP server for one test ([`SmtpServer`]): Debian's `python3-aiosmtpd` on a free
//! port, with a small handler that writes each message it receives, decoded by Python's
//! `email` package, as one JSON file in its own temporary directory. Killed when dropped.
//!
//! Where aiosmtpd is not installed its tests are skipped with a note, except under `CI`, where
//! they fail: `scripts/install-test-deps` installs it.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keyward::config::SmtpSettings;

use super::free_port;

const PYTHON: &str = "/usr/bin/python3";

/// Writes `NNNN.json` per message: envelope, headers and the decoded text body.
const HANDLER: &str = r#"
import email, json, os
from email import policy

class JsonMailbox:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    @classmethod
    def from_cli(cls, parser, *args):
        return cls(*args)

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=policy.default)
        self.count += 1
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(msg["from"]),
            "to": str(msg["to"]),
            "subject": str(msg["subject"]),
            "content_type": msg.get_content_type(),
            "body": msg.get_content(),
        }
        tmp = os.path.join(self.directory, ".%04d.tmp" % self.count)
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.directory, "%04d.json" % self.count))
        return "250 Message accepted for delivery"
"#;

/// One message as the server received it.
#[derive(Debug, serde::Deserialize)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub content_type: String,
    pub body: String,
}

pub struct SmtpServer {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl SmtpServer {
    /// A fresh server listening on a free port, or `None` (with a note) where aiosmtpd is not
    /// installed outside CI.
    pub async fn start() -> Option<Self> {
        if !installed() {
            assert!(
                std::env::var_os("CI").is_none(),
                "python3-aiosmtpd is not installed: run scripts/install-test-deps"
            );
            eprintln!("note: python3-aiosmtpd is not installed; skipping a test that sends email");
            return None;
        }
        let dir = tempfile::tempdir().expect("a directory for the SMTP server");
        std::fs::write(dir.path().join("keyward_test_mailbox.py"), HANDLER).expect("the handler script");
        let mail = dir.path().join("mail");
        std::fs::create_dir(&mail).expect("the mail directory");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("smtpd.log")).expect("the server's log");
        let child = Command::new(PYTHON)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "keyward_test_mailbox.JsonMailbox"])
            .arg(&mail)
            .env("PYTHONPATH", dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("start aiosmtpd");
        let server = Self { port, child, dir };
        server.wait_listening().await;
        Some(server)
    }

    async fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not listen:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `KEYWARD_SMTP_URL` / `KEYWARD_SMTP_FROM` for a server that sends through this one.
    pub fn settings(&self) -> SmtpSettings {
        let url = format!("smtp://127.0.0.1:{}", self.port);
        SmtpSettings::from_parts(Some(&url), Some("Keyward <keyward@example.com>")).unwrap().unwrap()
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<Received> {
        let mut files: Vec<_> = std::fs::read_dir(self.dir.path().join("mail"))
            .expect("the mail directory")
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).expect("a message record"))
            .collect()
    }

    /// Waits until `n` messages have arrived (a few seconds at most) and returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "{} of {n} messages arrived:\n{}", got.len(), self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("smtpd.log")).unwrap_or_default()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn installed() -> bool {
    Command::new(PYTHON)
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
