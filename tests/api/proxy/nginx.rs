//! `docs/proxy/nginx.conf` through Debian's nginx (with the headers-more module).

use std::process::{Command, Stdio};

use super::{ProxyProcess, Stage, forward_auth_checks, proxy_binary};

#[tokio::test]
async fn the_shipped_nginx_snippet_passes_every_forward_auth_check() {
    if !installed() {
        return;
    }
    let stage = Stage::new().await;
    let proxy = start(&stage).await;
    forward_auth_checks(&stage.app, &stage.base(), &proxy).await;
}

const NGINX: (&[&str], &str) = (&["/usr/sbin/nginx", "/usr/bin/nginx"], "nginx");

/// Whether nginx is here (outside CI a missing one skips the test with a note).
pub fn installed() -> bool {
    proxy_binary(NGINX.0, NGINX.1).is_some()
}

/// nginx running the shipped snippet in front of the stage's keyward and API, ready.
pub async fn start(stage: &Stage) -> ProxyProcess {
    let nginx = proxy_binary(NGINX.0, NGINX.1).expect("nginx is installed");
    let d = stage.dir.path().display();
    let snippet = stage.snippet(
        "nginx.conf",
        &[("listen 8000;", format!("listen {};", stage.port)), ("/var/log/nginx/", format!("{d}/"))],
    );
    std::fs::write(stage.path("keyward.conf"), snippet).unwrap();
    // The snippet goes inside `http { }`, as in Debian's own nginx.conf, which also loads the
    // enabled modules (headers-more among them).
    let main = format!(
        "include /etc/nginx/modules-enabled/*.conf;
worker_processes 1;
error_log {d}/error.log info;
pid {d}/nginx.pid;
events {{ worker_connections 256; }}
http {{
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  include {d}/keyward.conf;
}}
"
    );
    std::fs::write(stage.path("nginx.conf"), main).unwrap();
    let mut command = Command::new(nginx);
    command
        .arg("-c")
        .arg(stage.path("nginx.conf"))
        // Debian's compiled-in prefix stays, against which the enabled modules are named.
        .arg("-e")
        .arg(stage.path("startup.log"))
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let logs = ["startup.log", "error.log", "api.access.log"].map(|f| stage.path(f)).to_vec();
    let mut proxy = ProxyProcess::spawn(command, logs);
    proxy.wait_ready(&stage.base()).await;
    proxy
}
