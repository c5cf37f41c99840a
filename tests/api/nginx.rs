//! A real nginx with `auth_request` to `/api/v1/auth` in front of a tiny upstream, trusted by
//! keyward to name the client. Skipped with a visible note when nginx is not installed (CI
//! installs it).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use keyward::config::TrustedProxies;

use crate::helpers::db::{SeedKey, revoke_key, seed_key, usage_of};
use crate::helpers::{Backend, free_port, spawn_app_with};

fn nginx_binary() -> Option<&'static str> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"].into_iter().find(|p| std::path::Path::new(p).exists())
}

/// An upstream that answers every request with 200 "upstream ok".
fn spawn_upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = stream;
                let mut buf = [0u8; 4096];
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = s.read(&mut buf);
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\nupstream ok",
                );
            });
        }
    });
    port
}

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn nginx_auth_request_lets_valid_keys_through_and_refuses_the_rest() {
    let Some(nginx) = nginx_binary() else {
        let _ = writeln!(
            std::io::stderr(),
            "NOTE: nginx is not installed: the nginx integration test was skipped."
        );
        return;
    };
    // keyward trusts the nginx in front of it (which connects from 127.0.0.1).
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.trusted_proxies = TrustedProxies::parse("127.0.0.1").unwrap();
        s.usage_flush_interval = Duration::from_millis(100);
    })
    .await;
    let upstream = spawn_upstream();
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let conf = format!(
        r#"
worker_processes 1;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location = /_keyward_auth {{
      internal;
      proxy_pass http://127.0.0.1:{keyward}/api/v1/auth;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Keyward-Require $keyward_require;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }}
    location /records/ {{
      set $keyward_require "records:read";
      if ($request_method !~ ^(GET|HEAD)$) {{ set $keyward_require "records:write"; }}
      auth_request /_keyward_auth;
      auth_request_set $keyward_key_id $upstream_http_x_keyward_key_id;
      proxy_set_header X-Keyward-Key-Id $keyward_key_id;
      proxy_pass http://127.0.0.1:{upstream};
    }}
  }}
}}
"#,
        dir = dir.path().display(),
        keyward = app.port,
    );
    let conf_path = dir.path().join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let child = Command::new(nginx)
        .arg("-c")
        .arg(&conf_path)
        .arg("-p")
        .arg(dir.path())
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nginx");
    let _nginx = Nginx(child);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if client.get(format!("{base}/records/1")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
    assert!(up, "nginx did not start: {log}");

    let writer =
        seed_key(&app, SeedKey { permissions: "records:read records:write", ..Default::default() }).await;
    let reader = seed_key(&app, SeedKey { permissions: "records:read", ..Default::default() }).await;

    let res =
        client.get(format!("{base}/records/1")).header("X-Api-Key", writer.secret()).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "upstream ok");
    let res =
        client.post(format!("{base}/records/1")).header("X-Api-Key", writer.secret()).send().await.unwrap();
    assert_eq!(res.status(), 200);

    // No key, or a read-only key on a write route.
    let res = client.get(format!("{base}/records/1")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res =
        client.get(format!("{base}/records/1")).header("X-Api-Key", reader.secret()).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res =
        client.post(format!("{base}/records/1")).header("X-Api-Key", reader.secret()).send().await.unwrap();
    assert_eq!(res.status(), 403);

    // A client on another address, claiming yet another: keyward records the address nginx
    // saw, not the one the client put in its own X-Forwarded-For.
    let elsewhere =
        reqwest::Client::builder().local_address(std::net::IpAddr::from([127, 0, 0, 2])).build().unwrap();
    let res = elsewhere
        .get(format!("{base}/records/1"))
        .header("X-Api-Key", reader.secret())
        .header("X-Forwarded-For", "10.9.9.9")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut last_ip = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        last_ip = usage_of(&app, reader.id).await.3;
        if last_ip.as_deref() == Some("127.0.0.2") {
            break;
        }
    }
    assert_eq!(last_ip.as_deref(), Some("127.0.0.2"), "the last-used IP is the client nginx saw");

    revoke_key(&app, writer.id).await;
    let res = client
        .get(format!("{base}/records/1"))
        .header("Authorization", format!("Bearer {}", writer.secret()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}
