//! Integration tests: each starts the real server on a random port and talks HTTP to it
//! through `helpers::Client`. `both_backends!` bodies run on SQLite and, when
//! `KEYWARD_TEST_POSTGRES_URL` is set, PostgreSQL (with `CI` set, a missing URL fails them);
//! the few backend-specific kinds are listed in docs/ARCHITECTURE.md.

mod helpers;

mod access_rules;
mod account;
mod accounts;
mod admin_cli;
mod api_contract;
mod api_keys;
mod audit_log;
mod client_address;
mod contention;
mod crash;
mod foundation;
mod hostile;
mod hostile_input;
mod http_edge;
mod invitations;
mod key_insight;
mod key_lifecycle;
mod key_operations;
mod keys_cli;
mod leak_scanners;
mod leaks;
mod management_api;
mod members;
mod metrics;
mod outage;
mod password_work;
mod policies;
mod proxy;
mod reminders;
mod scale_out;
mod secrets_at_rest;
mod secrets_scan;
mod shared_limits;
mod sign_in_security;
mod sudo;
mod two_factor;
mod verifier;
mod webhooks;
