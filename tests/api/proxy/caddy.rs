//! `docs/proxy/Caddyfile` through Debian's Caddy.

use std::process::{Command, Stdio};

use super::{
    ProxyProcess, forward_auth_checks, keyward_behind_a_proxy, proxy_binary, shipped, spawn_echo_api,
    substitute,
};
use crate::helpers::free_port;

#[tokio::test]
async fn the_shipped_caddyfile_passes_every_forward_auth_check() {
    let Some(caddy) = proxy_binary(&["/usr/bin/caddy", "/usr/local/bin/caddy"], "caddy") else {
        return;
    };
    let app = keyward_behind_a_proxy().await;
    let api = spawn_echo_api();
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let snippet = substitute(
        &shipped("Caddyfile"),
        &[
            ("127.0.0.1:8080", format!("127.0.0.1:{}", app.port)),
            ("127.0.0.1:9000", format!("127.0.0.1:{api}")),
            (":8000 {", format!(":{port} {{")),
            ("/var/log/caddy/", format!("{d}/")),
        ],
    );
    // Caddy's admin endpoint has one fixed port, which tests running at once would share.
    let config = dir.path().join("Caddyfile");
    std::fs::write(&config, format!("{{\n\tadmin off\n}}\n\n{snippet}")).unwrap();
    let stderr = std::fs::File::create(dir.path().join("caddy.log")).unwrap();
    let mut command = Command::new(caddy);
    command
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&config)
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .stdout(Stdio::null())
        .stderr(stderr);
    let mut proxy =
        ProxyProcess::spawn(command, vec![dir.path().join("caddy.log"), dir.path().join("api.access.log")]);
    let base = format!("http://127.0.0.1:{port}");
    proxy.wait_ready(&base).await;
    forward_auth_checks(&app, &base, &proxy).await;
}
