//! Starting the server: one pinned glommio executor per core, joined by the channel mesh,
//! each with its shard, its listener on the shared port, its flusher and its cron.

use crate::config::cli::Durability;
use crate::config::{ConfigStore, Options, Settings};
use crate::core::mesh::Msg;
use crate::core::{Core, Global};
use crate::limits::MESH_CHANNEL_MESSAGES;
use glommio::channels::channel_mesh::MeshBuilder;
use glommio::{LocalExecutorBuilder, Placement};
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

/// glommio reserves this much registered I/O buffer memory per executor (10 MiB by
/// default). Only direct-I/O files use it, and the server has none until the log lands, so
/// it keeps a small pool instead of 10 MiB of idle memory per core.
const EXECUTOR_IO_MEMORY_BYTES: usize = 2 << 20;

/// What `main` resolved from flags and the config file.
pub struct Plan {
    pub cpus: Vec<usize>,
    /// Addresses to listen on (Redis's `bind` list), each with the port.
    pub addrs: Vec<String>,
    pub port: u16,
    pub config: ConfigStore,
    pub config_file: Option<std::path::PathBuf>,
    pub net: crate::config::cli::Net,
    pub durability: Durability,
    /// The log's directory (absolute), with `local` durability.
    pub log_dir: Option<std::path::PathBuf>,
}

/// The configuration store shared by every core (CONFIG is not on the data path).
pub static CONFIG: Mutex<Option<ConfigStore>> = Mutex::new(None);

pub fn resolve(options: &Options) -> anyhow::Result<Plan> {
    let mut config = match options.config_path() {
        Some(path) => {
            ConfigStore::load_file(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => ConfigStore::defaults(),
    };
    let mut flags: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    if let Some(port) = options.port {
        flags.push((b"port".to_vec(), port.to_string().into_bytes()));
    }
    if let Some(bind) = &options.bind {
        flags.push((b"bind".to_vec(), bind.clone().into_bytes()));
    }
    let durability = options.durability.unwrap_or(Durability::Local);
    if durability == Durability::Quorum {
        anyhow::bail!("--durability quorum is not available yet (log peers arrive with quorum replication): run with --durability local or none");
    }
    let log_dir = match &options.dir {
        Some(dir) => Some(dir.clone()),
        None if config.is_set("dir") => Some(config.dir().to_path_buf()),
        None if durability == Durability::Local => Some("data".into()),
        None => None,
    };
    if let Some(dir) = &log_dir {
        // Created in every mode, so `--dir` means the same with or without a log.
        std::fs::create_dir_all(dir).map_err(|e| {
            anyhow::anyhow!("cannot create the data directory {}: {e}", dir.display())
        })?;
        flags.push((b"dir".to_vec(), dir.display().to_string().into_bytes()));
    }
    config.set(&flags).map_err(|e| anyhow::anyhow!(e))?;
    let log_dir = (durability == Durability::Local).then(|| config.dir().to_path_buf());
    if options
        .cluster_enabled
        .as_deref()
        .is_some_and(|v| v.eq_ignore_ascii_case("yes"))
    {
        anyhow::bail!("--cluster-enabled yes is not available yet: run without it (a single endpoint serving all 16384 slots)");
    }
    let available: Vec<usize> = core_ids();
    let cpus = match &options.cpus {
        Some(list) => crate::config::cli::parse_cpu_list(list).map_err(|e| anyhow::anyhow!(e))?,
        None => available.clone(),
    };
    let threads = options.threads.unwrap_or(cpus.len());
    if threads == 0 || threads > cpus.len() {
        anyhow::bail!(
            "--threads {threads}: must be between 1 and the {} CPUs available to pin to",
            cpus.len()
        );
    }
    let port = config
        .get(b"port")
        .first()
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(6379);
    let addrs = listen_addrs(config.bind(), port);
    Ok(Plan {
        cpus: cpus[..threads].to_vec(),
        addrs,
        port,
        config,
        config_file: options.config_path().cloned(),
        net: options.net,
        durability,
        log_dir,
    })
}

/// Descriptors a process needs besides its clients' (Redis's CONFIG_MIN_RESERVED_FDS), and
/// per core (its rings, eventfds, log files and listeners).
const RESERVED_FDS: u64 = 32;
const FDS_PER_CORE: u64 = 16;

fn reserved_fds(cores: usize) -> u64 {
    RESERVED_FDS + FDS_PER_CORE * cores as u64
}

/// Redis's adjustOpenFilesLimit: raises the soft RLIMIT_NOFILE so `maxclients` clients
/// can connect (many systems start processes at 1024), and returns how many clients fit
/// under the limit it got: `maxclients`, or fewer when the hard limit is too low. A client
/// takes two descriptors when it can receive pushes between replies (Pub/Sub, tracking,
/// any RESP3 client: its second handle writes them), so room for two each is asked for;
/// fewer clients are reported only when even one each does not fit, as Redis counts.
pub fn raise_open_files_limit(maxclients: u64, cores: usize) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return maxclients;
    }
    let reserved = reserved_fds(cores);
    let wanted = (2 * maxclients + reserved).min(limit.rlim_max);
    if limit.rlim_cur < wanted {
        let raised = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = wanted;
        }
    }
    maxclients.min(limit.rlim_cur.saturating_sub(reserved))
}

/// At start: the open files limit raised for `maxclients`, which is lowered (with Redis's
/// warnings) to what the hard limit allows.
fn fit_maxclients(config: &mut ConfigStore, cores: usize) -> anyhow::Result<()> {
    let wanted = config.settings().maxclients;
    let fits = raise_open_files_limit(wanted, cores);
    if fits == wanted {
        return Ok(());
    }
    if fits < 1 {
        anyhow::bail!("the open files limit leaves no room for a client: raise 'ulimit -n'");
    }
    let needed = wanted + reserved_fds(cores);
    eprintln!(
        "holdfast: warning: you requested maxclients of {wanted} requiring at least {needed} \
         max file descriptors; maxclients has been reduced to {fits} to compensate for low \
         ulimit. If you need higher maxclients increase 'ulimit -n'."
    );
    let value = fits.to_string().into_bytes();
    config
        .set(&[(b"maxclients".to_vec(), value)])
        .map_err(|e| anyhow::anyhow!(e))
}

/// Redis's `bind` list as socket addresses: `*` is every IPv4 address, `::*` every IPv6
/// one, and a leading `-` (optional address) is dropped.
fn listen_addrs(bind: &[String], port: u16) -> Vec<String> {
    let addrs: Vec<String> = bind
        .iter()
        .map(|a| a.trim_start_matches('-'))
        .map(|a| match a {
            "*" => format!("0.0.0.0:{port}"),
            "::*" => format!("[::]:{port}"),
            a if a.contains(':') => format!("[{a}]:{port}"),
            a => format!("{a}:{port}"),
        })
        .collect();
    if addrs.is_empty() {
        vec![format!("127.0.0.1:{port}")]
    } else {
        addrs
    }
}

/// This core's network ring and its driver task, or None (glommio's sockets) when the
/// kernel refuses the ring.
fn network_ring(core: usize) -> Option<std::rc::Rc<crate::net::ring::NetRing>> {
    match crate::net::ring::NetRing::new() {
        Ok(ring) => {
            glommio::spawn_local(ring.clone().drive()).detach();
            Some(ring)
        }
        Err(err) => {
            eprintln!(
                "holdfast: core {core}: no network io_uring ({err}); using glommio's sockets"
            );
            None
        }
    }
}

/// CPUs this process may run on (its affinity mask).
fn core_ids() -> Vec<usize> {
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: sched_getaffinity writes at most size_of::<cpu_set_t>() bytes into `set`.
    let ok =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) }
            == 0;
    let cpus: Vec<usize> = if ok {
        // SAFETY: CPU_ISSET reads the set initialised above.
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
            .collect()
    } else {
        Vec::new()
    };
    if cpus.is_empty() {
        (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect()
    } else {
        cpus
    }
}

pub fn run(plan: Plan) -> anyhow::Result<()> {
    crate::core::stopwatch::calibrate();
    let cores = plan.cpus.len();
    let mut plan = plan;
    fit_maxclients(&mut plan.config, cores)?;
    let settings: Settings = plan.config.settings();
    *CONFIG.lock().expect("config lock") = Some(plan.config);
    let global = Arc::new(Global {
        started: Instant::now(),
        run_id: run_id(),
        port: plan.port,
        cores,
        config_file: plan.config_file,
        connected_clients: AtomicUsize::new(0),
        next_client_id: AtomicU64::new(1),
        next_slowlog_id: AtomicU64::new(0),
        next_lsn: AtomicU64::new(1),
        next_event_batch: AtomicU64::new(0),
        commit: crate::commit::Shared::new(plan.durability, cores),
    });
    // Bind once up front so a taken port is one clear error, not one per core.
    for addr in &plan.addrs {
        drop(
            std::net::TcpListener::bind(addr)
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?,
        );
    }
    let mesh = MeshBuilder::<Msg, _>::full(cores, MESH_CHANNEL_MESSAGES);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let mut handles = Vec::new();
    let ring_wanted = plan.net == crate::config::cli::Net::IoUring;
    for (id, &cpu) in plan.cpus.iter().enumerate() {
        let (mesh, global, settings, addrs, ready, log_dir) = (
            mesh.clone(),
            global.clone(),
            settings.clone(),
            plan.addrs.clone(),
            ready_tx.clone(),
            plan.log_dir.clone(),
        );
        let handle = LocalExecutorBuilder::new(Placement::Fixed(cpu))
            .name(&format!("holdfast-core-{id}"))
            .io_memory(EXECUTOR_IO_MEMORY_BYTES)
            .spawn(move || async move {
                let (senders, receivers) = mesh.join().await.expect("channel mesh");
                let core = Core::new(id, global, settings, Some(senders));
                core.spawn_receivers(receivers);
                crate::core::outbox::spawn_flusher(&core);
                core.spawn_cron();
                core.spawn_granter();
                crate::core::notify::spawn(&core);
                crate::core::monitor::spawn(&core);
                crate::core::tracking::spawn_sender(&core);
                let log = match log_dir.filter(|_| id == crate::commit::LOG_CORE) {
                    Some(dir) => match open_log(&dir).await {
                        Ok(log) => Some((log, dir)),
                        Err(err) => {
                            let _ = ready.send(Err(err));
                            return;
                        }
                    },
                    None => None,
                };
                if core.global.commit.journaled() {
                    crate::commit::ship::spawn(&core);
                }
                let ring = if ring_wanted { network_ring(id) } else { None };
                let mut loops = Vec::new();
                for addr in &addrs {
                    match crate::net::listener::bind(addr) {
                        Ok(listener) => loops.push(glommio::spawn_local(
                            crate::net::listener::accept_loop(core.clone(), listener, ring.clone()),
                        )),
                        Err(err) => {
                            let text = format!("core {id}: cannot listen on {addr}: {err}");
                            let _ = ready.send(Err(text));
                            return;
                        }
                    }
                }
                let _ = ready.send(Ok(()));
                if let Some((log, dir)) = log {
                    recover(&core, log, &dir).await;
                }
                futures::future::join_all(loops).await;
            })
            .map_err(|e| anyhow::anyhow!("cannot start the executor for CPU {cpu}: {e}"))?;
        handles.push(handle);
    }
    for _ in 0..cores {
        ready_rx
            .recv()
            .map_err(|_| anyhow::anyhow!("an executor died while starting"))?
            .map_err(|e| anyhow::anyhow!(e))?;
    }
    println!(
        "holdfast {} ready: {} core(s) on CPUs {:?}, listening on {}, durability {}{}",
        env!("CARGO_PKG_VERSION"),
        cores,
        plan.cpus,
        plan.addrs.join(" "),
        crate::commit::mode_name(plan.durability),
        plan.log_dir
            .as_ref()
            .map(|d| format!(" (log in {})", d.display()))
            .unwrap_or_default()
    );
    for handle in handles {
        handle
            .join()
            .map_err(|e| anyhow::anyhow!("executor failed: {e}"))?;
    }
    Ok(())
}

/// Opens (and so verifies, see holdfast-log's recovery) the log in `dir`. Errors are the
/// operator's message: the server does not start on a log it cannot trust.
async fn open_log(dir: &std::path::Path) -> Result<crate::commit::sequencer::LocalLog, String> {
    let storage = holdfast_log::storage::dma::DmaStorage::open(dir)
        .await
        .map_err(|e| format!("cannot open the log directory {}: {e}", dir.display()))?;
    holdfast_log::Log::open(storage, holdfast_log::LogConfig::default())
        .await
        .map_err(|e| format!("cannot open the log in {}: {e}", dir.display()))
}

/// Replays the log into the shards, then starts committing: until this returns, commands
/// that touch data get -LOADING. A log this build cannot replay stops the process.
async fn recover(
    core: &std::rc::Rc<Core>,
    log: crate::commit::sequencer::LocalLog,
    dir: &std::path::Path,
) {
    let dir = dir.display().to_string();
    let started = Instant::now();
    if let Err(err) = crate::commit::replay::replay(core, &log, &dir).await {
        eprintln!("holdfast: cannot start: {err}");
        std::process::exit(1);
    }
    let next = log.next_lsn().0;
    let global = &core.global;
    global
        .next_lsn
        .store(next, std::sync::atomic::Ordering::SeqCst);
    global.commit.publish(next - 1);
    let sequencer = crate::commit::sequencer::Sequencer::new(log, core.cores);
    core.set_sequencer(sequencer.clone());
    crate::commit::sequencer::spawn(core, sequencer);
    global
        .commit
        .loading
        .active
        .store(false, std::sync::atomic::Ordering::Release);
    println!(
        "holdfast: replayed the log in {dir} up to LSN {} in {:.3} s",
        next - 1,
        started.elapsed().as_secs_f64()
    );
}

fn run_id() -> String {
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        ^ (std::process::id() as u128) << 64;
    let mut x = seed as u64 ^ (seed >> 64) as u64 | 1;
    (0..40)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from_digit((x % 16) as u32, 16).unwrap_or('0')
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::listen_addrs;

    #[test]
    fn bind_lists_like_redis() {
        let bind = |list: &[&str]| {
            listen_addrs(
                &list.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                7000,
            )
        };
        assert_eq!(
            bind(&["127.0.0.1", "-::1"]),
            vec!["127.0.0.1:7000", "[::1]:7000"]
        );
        assert_eq!(bind(&["*"]), vec!["0.0.0.0:7000"]);
        assert_eq!(bind(&[]), vec!["127.0.0.1:7000"]);
    }
}
