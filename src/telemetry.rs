//! Logging setup: plain lines on standard error, level from `RUST_LOG` (default `info`).
//! Colours only on a terminal: a log file or a journal gets text that `grep` finds as printed
//! (`setup_code=…`, `ip=…`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_writer(std::io::stderr)
        .try_init();
}
