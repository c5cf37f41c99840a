//! The keyward binary run as a child process, as an operator runs it: [`keyward_command`] to
//! run it once, [`ServerProcess`] to serve from it (started on a [`free_port`], ready once
//! `/readyz` answers 200, its log written to a file, killed when dropped), and [`url_arg`],
//! a [`DatabaseUrl`] as `KEYWARD_DATABASE_URL` takes it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keyward::config::DatabaseUrl;

/// The keyward binary built for these tests, to be given its arguments and environment.
pub fn keyward_command() -> Command {
    Command::new(env!("CARGO_BIN_EXE_keyward"))
}

/// A port on 127.0.0.1 that was free a moment ago, for a process that binds it itself.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The database URL as the binary reads it from `KEYWARD_DATABASE_URL`, password included
/// (the `Debug` form hides it).
pub fn url_arg(url: &DatabaseUrl) -> String {
    match url {
        DatabaseUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
        DatabaseUrl::Postgres(u) => u.clone(),
    }
}

/// The keyward binary serving on its own port, its stderr appended to `log`.
pub struct ServerProcess {
    child: Child,
    pub base: String,
    pub log: PathBuf,
}

impl ServerProcess {
    /// Starts the binary and waits until `/readyz` answers 200.
    pub async fn start(url: &DatabaseUrl, log: &Path) -> Self {
        Self::start_with_env(url, log, &[]).await
    }

    /// [`ServerProcess::start`] with more environment variables.
    pub async fn start_with_env(url: &DatabaseUrl, log: &Path, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let stderr = File::options().create(true).append(true).open(log).expect("log file");
        let mut command = keyward_command();
        match url {
            // Instances on one PostgreSQL database share a secret, as an operator configures.
            DatabaseUrl::Postgres(_) => command.env("KEYWARD_SECRET_KEY", super::TEST_SECRET_KEY),
            // On SQLite the server keeps its own beside the database.
            DatabaseUrl::Sqlite(_) => command.env_remove("KEYWARD_SECRET_KEY"),
        };
        let child = command
            .env_remove("KEYWARD_SECRET_KEY_FILE")
            .env("KEYWARD_DATABASE_URL", url_arg(url))
            .env("KEYWARD_BIND", format!("127.0.0.1:{port}"))
            .env("KEYWARD_WORKERS", "2")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start keyward");
        let server = Self { child, base: format!("http://127.0.0.1:{port}"), log: log.to_owned() };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Ok(res) = client.get(format!("{}/readyz", self.base)).send().await
                && res.status() == 200
            {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "keyward did not become ready; log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What the server has logged so far (empty if the log cannot be read).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The first-run setup code a fresh server printed in its log (the last one, after
    /// restarts on the same log).
    pub fn setup_code(&self) -> String {
        setup_code_in(&self.log_text())
            .unwrap_or_else(|| panic!("no setup_code= in the log:\n{}", self.log_text()))
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill_9(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
    }

    /// SIGTERM, then waits for the exit; returns whether it exited with status 0.
    pub fn terminate(self) -> bool {
        self.signal("TERM");
        self.wait_exit()
    }

    /// Sends a signal (`TERM`, `INT`, …) without waiting.
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args([&format!("-{name}"), &pid]).status().expect("kill");
        assert!(sent.success(), "kill -{name}");
    }

    /// The process id (to freeze it with `SIGSTOP`, say).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Waits for the exit; returns whether it exited with status 0.
    pub fn wait_exit(mut self) -> bool {
        self.child.wait().expect("wait").success()
    }
}

/// A test that ends early (a failed assertion) or needs no particular stop must not leave a
/// server running after it.
impl Drop for ServerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The value of the last `setup_code=` a server logged.
pub fn setup_code_in(log: &str) -> Option<String> {
    let at = log.rfind("setup_code=")? + "setup_code=".len();
    let code: String = log[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    (!code.is_empty()).then_some(code)
}
