use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    keep_large_allocations_returnable();
    keyward::telemetry::init();
    match keyward::cli::run(keyward::cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            // One line, whatever the driver said: operators grep for it and scripts show it.
            let line: Vec<&str> = message.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            eprintln!("keyward: {}", line.join(" "));
            ExitCode::FAILURE
        }
    }
}

/// Each sign-in hashes with argon2id over a 19 MiB buffer. glibc serves the first such buffer
/// with mmap but then raises its mmap threshold to match, so later ones come from per-thread
/// heaps that are not given back: resident memory crept up with every blocking thread that
/// ever hashed a password. A fixed threshold keeps large buffers on mmap, returned on free.
fn keep_large_allocations_returnable() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; it is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
    }
}
