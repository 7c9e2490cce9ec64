//! `holdfast-server`: parses the configuration and starts the pinned executors; nothing else.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let options = holdfast_server::config::Options::parse();
    let plan = holdfast_server::server::resolve(&options)?;
    holdfast_server::server::run(plan)
}
