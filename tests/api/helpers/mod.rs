//! The test harness, shared by every test module:
//!
//! - [`backend`]: `both_backends!`, the PostgreSQL server for tests, a database per test;
//! - [`app`]: the server started in-process for one test ([`TestApp`]);
//! - [`client`]: the one HTTP client ([`Client`]), a browser on the console and a caller of
//!   the verifier;
//! - [`cookies`]: the session cookie opened and forged with the server's key;
//! - [`pages`]: reading the HTML the console answers;
//! - [`db`]: seeding and reading the database directly, beside the console;
//! - [`process`]: the keyward binary run as a child process ([`ServerProcess`]);
//! - [`redis`]: a throwaway `redis-server` ([`RedisServer`]) for the shared rate limits;
//! - [`smtp`]: a real SMTP server ([`SmtpServer`]) that keeps the emails it receives.
// Not every test module uses every helper.
#![allow(dead_code)]

pub mod app;
pub mod backend;
pub mod client;
pub mod cookies;
pub mod db;
pub mod pages;
pub mod process;
pub mod redis;
pub mod smtp;
pub mod webhook_receiver;

pub use app::{
    MEMBER_PASSWORD, OWNER_EMAIL, OWNER_PASSWORD, TEST_SECRET_KEY, TestApp, ipv6_loopback, spawn_another,
    spawn_app, spawn_app_with, test_settings,
};
pub use backend::{Backend, TestDb, postgres_admin_url};
pub use client::{Client, Failure, Revealed, Verdict, assert_is_redirect_to, extract_csrf};
pub use process::{ServerProcess, free_port, keyward_command, url_arg};
pub use redis::RedisServer;
pub use smtp::SmtpServer;
