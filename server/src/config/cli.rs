//! The command line of `holdfast-server` (DESIGN.md keeps it stable: scripts depend on it).

use clap::{Parser, ValueEnum};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Durability {
    /// A pure in-memory cache: nothing is logged (compare with Redis without persistence).
    None,
    /// One node: writes are acknowledged after the local log's fdatasync.
    Local,
    /// Writes are acknowledged after a quorum of log peers has them on disk.
    Quorum,
}

/// How sockets are read and written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Net {
    /// glommio's sockets: a recv/send system call per operation (the default).
    Glommio,
    /// Experimental: a network io_uring per core, one system call for every connection
    /// busy in the same tick (net/ring.rs). Not yet measured faster; see bench/RESULTS.md.
    IoUring,
}

#[derive(Clone, Debug, Parser)]
#[command(
    name = "holdfast-server",
    version,
    about = "Holdfast: a durable, thread-per-core, Redis-compatible in-memory database"
)]
pub struct Options {
    /// Optional redis.conf-style file read before the flags (flags win).
    #[arg(value_name = "CONFIG_FILE")]
    pub config_file: Option<PathBuf>,

    /// Same as the positional CONFIG_FILE.
    #[arg(long = "config", value_name = "FILE", conflicts_with = "config_file")]
    pub config: Option<PathBuf>,

    /// TCP port every core accepts on (SO_REUSEPORT).
    #[arg(long)]
    pub port: Option<u16>,

    /// Address to listen on.
    #[arg(long)]
    pub bind: Option<String>,

    /// Number of cores (one pinned executor and one shard each); default: every available core.
    #[arg(long)]
    pub threads: Option<usize>,

    /// CPUs to pin the executors to, e.g. "0-3,8"; default: the first N available.
    #[arg(long, value_name = "LIST")]
    pub cpus: Option<String>,

    /// When a write is acknowledged: `local` (the default) after the log in --dir is
    /// fdatasynced; `none` never (a cache, like Redis without persistence).
    #[arg(long, value_enum)]
    pub durability: Option<Durability>,

    /// Data directory of the log (created if missing). Default: the config file's `dir`
    /// if it sets one, else ./data.
    #[arg(long)]
    pub dir: Option<PathBuf>,

    /// Log peers for `--durability quorum`, HOST:PORT,...
    #[arg(long, value_name = "HOST:PORT,...")]
    pub log_peers: Option<String>,

    /// Availability zone this node runs in.
    #[arg(long)]
    pub az: Option<String>,

    /// Socket I/O path.
    #[arg(long, value_enum, default_value = "glommio")]
    pub net: Net,

    /// Cluster protocol (CLUSTER commands, MOVED); not yet available.
    #[arg(long, value_name = "yes|no")]
    pub cluster_enabled: Option<String>,
}

impl Options {
    pub fn config_path(&self) -> Option<&PathBuf> {
        self.config.as_ref().or(self.config_file.as_ref())
    }
}

/// Parses a CPU list like "0-3,8".
pub fn parse_cpu_list(text: &str) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("invalid CPU list '{text}': expected e.g. 0-3,8");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a > b {
                    return Err(bad());
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().map_err(|_| bad())?),
        }
    }
    if cpus.is_empty() {
        return Err(format!("invalid CPU list '{text}': it names no CPU"));
    }
    Ok(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-2,5").unwrap(), vec![0, 1, 2, 5]);
        assert_eq!(parse_cpu_list("1").unwrap(), vec![1]);
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("x").is_err());
        assert!(parse_cpu_list("").is_err());
    }
}
