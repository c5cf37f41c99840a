//! `docs/proxy/Caddyfile` through Debian's Caddy.

use std::process::{Command, Stdio};

use super::{ProxyProcess, Stage, forward_auth_checks, proxy_binary};

#[tokio::test]
async fn the_shipped_caddyfile_passes_every_forward_auth_check() {
    let Some(caddy) = proxy_binary(&["/usr/bin/caddy", "/usr/local/bin/caddy"], "caddy") else {
        return;
    };
    let stage = Stage::new().await;
    let d = stage.dir.path().display();
    let snippet = stage.snippet(
        "Caddyfile",
        &[(":8000 {", format!(":{} {{", stage.port)), ("/var/log/caddy/", format!("{d}/"))],
    );
    // Caddy's admin endpoint has one fixed port, which tests running at once would share.
    std::fs::write(stage.path("Caddyfile"), format!("{{\n\tadmin off\n}}\n\n{snippet}")).unwrap();
    let stderr = std::fs::File::create(stage.path("caddy.log")).unwrap();
    let mut command = Command::new(caddy);
    command
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(stage.path("Caddyfile"))
        .env("HOME", stage.dir.path())
        .env("XDG_DATA_HOME", stage.path("data"))
        .env("XDG_CONFIG_HOME", stage.path("config"))
        .stdout(Stdio::null())
        .stderr(stderr);
    let logs = ["caddy.log", "api.access.log"].map(|f| stage.path(f)).to_vec();
    let mut proxy = ProxyProcess::spawn(command, logs);
    proxy.wait_ready(&stage.base()).await;
    forward_auth_checks(&stage.app, &stage.base(), &proxy).await;
}
