use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    keyward::memory::tune_allocator();
    keyward::telemetry::init();
    match keyward::cli::run(keyward::cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line, whatever the driver said: operators grep for it and scripts show it.
            let message = error.to_string();
            let line: Vec<&str> = message.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            eprintln!("keyward: {}", line.join(" "));
            ExitCode::FAILURE
        }
    }
}
