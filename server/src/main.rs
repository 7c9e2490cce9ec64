//! `holdfast-server`: parses the configuration and starts the pinned executors; nothing else.

use clap::Parser;

/// jemalloc, as Redis uses: per-thread caches suit thread-per-core, fragmentation stays
/// low under churn, and INFO's used_memory is measured the same way as Redis's.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> anyhow::Result<()> {
    let options = holdfast_server::config::Options::parse();
    let plan = holdfast_server::server::resolve(&options)?;
    holdfast_server::server::run(plan)
}
