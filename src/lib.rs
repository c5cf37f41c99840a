//! keyward: a self-hosted API-key manager. See `docs/ARCHITECTURE.md` for the layers.

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod cli;
pub mod config;
pub mod console;
pub mod db;
pub mod events;
pub mod keys;
pub mod lifecycle;
pub mod mail;
pub mod manage;
pub mod memory;
pub mod metrics;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod text;
pub mod verifier;
pub mod web;
pub mod webhooks;
