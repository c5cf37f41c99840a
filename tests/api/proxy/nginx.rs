//! `docs/proxy/nginx.conf` through Debian's nginx (with the headers-more module).

use std::process::{Command, Stdio};

use super::{
    ProxyProcess, forward_auth_checks, keyward_behind_a_proxy, proxy_binary, shipped, spawn_echo_api,
    substitute,
};
use crate::helpers::free_port;

#[tokio::test]
async fn the_shipped_nginx_snippet_passes_every_forward_auth_check() {
    let Some(nginx) = proxy_binary(&["/usr/sbin/nginx", "/usr/bin/nginx"], "nginx") else {
        return;
    };
    let app = keyward_behind_a_proxy().await;
    let api = spawn_echo_api();
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let snippet = substitute(
        &shipped("nginx.conf"),
        &[
            ("127.0.0.1:8080", format!("127.0.0.1:{}", app.port)),
            ("127.0.0.1:9000", format!("127.0.0.1:{api}")),
            ("listen 8000;", format!("listen {port};")),
            ("/var/log/nginx/", format!("{d}/")),
        ],
    );
    std::fs::write(dir.path().join("keyward.conf"), snippet).unwrap();
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
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, main).unwrap();
    let mut command = Command::new(nginx);
    command
        .arg("-c")
        .arg(&conf)
        // Debian's compiled-in prefix, against which the enabled modules are named.
        .arg("-e")
        .arg(dir.path().join("startup.log"))
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut proxy = ProxyProcess::spawn(
        command,
        vec![dir.path().join("startup.log"), dir.path().join("error.log"), dir.path().join("api.access.log")],
    );
    let base = format!("http://127.0.0.1:{port}");
    proxy.wait_ready(&base).await;
    forward_auth_checks(&app, &base, &proxy).await;
}
