//! `holdfast-server`: parses the configuration and starts the pinned executors; nothing else.

use clap::Parser;

/// jemalloc, as Redis uses: per-thread caches suit thread-per-core, fragmentation stays
/// low under churn, and INFO's used_memory is measured the same way as Redis's.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let options = holdfast_server::config::Options::parse();
    let result = holdfast_server::server::resolve(&options).and_then(holdfast_server::server::run);
    if let Err(err) = result {
        // One clear line for the operator, never a backtrace.
        eprintln!("holdfast-server: {err:#}");
        std::process::exit(1);
    }
}
