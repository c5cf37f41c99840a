//! A throwaway `redis-server` for one test ([`RedisServer`]): on a free port and a unix socket,
//! saving nothing,
//! in its own temporary directory, ready once it answers PING, killed when dropped. A test can
//! take it away ([`RedisServer::kill`], [`RedisServer::freeze`]) and bring it back on the same
//! port ([`RedisServer::restart`], [`RedisServer::thaw`]).
//!
//! Where `redis-server` is not installed its tests are skipped with a note, except under `CI`,
//! where they fail: `scripts/install-test-deps` installs it.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keyward::config::RedisUrl;

use super::free_port;

const CANDIDATES: &[&str] = &["/usr/bin/redis-server", "/usr/local/bin/redis-server"];

pub struct RedisServer {
    pub port: u16,
    binary: &'static str,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// A fresh server answering on a free port, or `None` (with a note) where `redis-server`
    /// is not installed outside CI.
    pub async fn start() -> Option<Self> {
        Self::start_on(free_port()).await
    }

    /// The same on a given port.
    pub async fn start_on(port: u16) -> Option<Self> {
        let binary = binary()?;
        let dir = tempfile::tempdir().expect("a directory for redis-server");
        let mut server = Self { port, binary, child: None, dir };
        server.spawn().await;
        Some(server)
    }

    /// `redis://127.0.0.1:<port>`, as `KEYWARD_REDIS_URL` would name it.
    pub fn url(&self) -> RedisUrl {
        RedisUrl::parse(&format!("redis://127.0.0.1:{}", self.port)).expect("a valid Redis URL")
    }

    /// The same server through its unix socket: `unix:///…/redis.sock`.
    pub fn socket_url(&self) -> RedisUrl {
        let socket = self.dir.path().join("redis.sock");
        RedisUrl::parse(&format!("unix://{}", socket.display())).expect("a valid Redis URL")
    }

    /// The milliseconds a key has left to live (`PTTL`): -2 when there is no such key, -1
    /// when it never expires.
    pub async fn pttl(&self, key: &str) -> i64 {
        let mut conn = connect(self.port).await.expect("connect to redis-server");
        redis::cmd("PTTL").arg(key).query_async(&mut conn).await.expect("PTTL")
    }

    /// SIGKILL: gone at once, its connections dropped, nothing saved.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A new server on the same port (empty, since nothing was saved).
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    /// SIGSTOP: connections stay open but nothing is answered, as with a Redis that hangs.
    pub fn freeze(&self) {
        self.signal("STOP");
    }

    /// SIGCONT after [`Self::freeze`].
    pub fn thaw(&self) {
        self.signal("CONT");
    }

    fn signal(&self, name: &str) {
        let pid = self.child.as_ref().expect("redis-server is running").id().to_string();
        let sent = Command::new("kill").args([&format!("-{name}"), &pid]).status().expect("kill");
        assert!(sent.success(), "kill -{name} redis-server");
    }

    async fn spawn(&mut self) {
        let log_path = self.dir.path().join("redis.log");
        let log = File::options().create(true).append(true).open(&log_path).expect("redis log");
        let child = Command::new(self.binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no", "--unixsocketperm", "700"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--unixsocket")
            .arg(self.dir.path().join("redis.sock"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("redis log"))
            .stderr(log)
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let started = Instant::now();
        while !answers_ping(self.port).await {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not answer on port {}; its log:\n{}",
                self.port,
                log_text(&log_path)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn binary() -> Option<&'static str> {
    if let Some(found) = CANDIDATES.iter().copied().find(|p| Path::new(p).exists()) {
        return Some(found);
    }
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("CI is set but redis-server is not installed: run scripts/install-test-deps");
    }
    let _ = writeln!(
        std::io::stderr(),
        "NOTE: redis-server is not installed: a shared rate-limit test was skipped."
    );
    None
}

fn log_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Whether a Redis on this port answers PING within a moment.
async fn answers_ping(port: u16) -> bool {
    let ping = async {
        let mut conn = connect(port).await.ok()?;
        redis::cmd("PING").query_async::<String>(&mut conn).await.ok()
    };
    tokio::time::timeout(Duration::from_millis(500), ping).await.ok().flatten().as_deref() == Some("PONG")
}

async fn connect(port: u16) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    redis::Client::open(format!("redis://127.0.0.1:{port}"))?.get_multiplexed_async_connection().await
}
