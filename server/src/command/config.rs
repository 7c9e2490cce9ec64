//! CONFIG GET/SET/RESETSTAT/REWRITE/HELP over the shared configuration store
//! (`config::store`); a SET is copied into every core's typed settings.

use super::connection::reply_help;
use super::session::Session;
use super::{flags::*, unknown_subcommand, Handler, Spec, Status, NO_KEYS};
use crate::config::ConfigStore;
use crate::server::CONFIG;
use crate::shard::hash::HashLimits;
use crate::shard::list::Fill;
use crate::shard::set::SetLimits;
use futures::future::LocalBoxFuture;
use futures::FutureExt;

type Argv = Vec<Vec<u8>>;
type Done<'a> = LocalBoxFuture<'a, Result<(), Status>>;

const CONFIG_HELP: &[&str] = &[
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
    "HELP",
    "    Prints this help.",
];

fn config(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let sub = argv[1].to_ascii_lowercase();
        match sub.as_slice() {
            b"get" if argv.len() >= 3 => get(s, &argv[2..]),
            // Pairs only: an odd count of arguments is a syntax error, as in Redis.
            b"set" if argv.len() >= 4 && argv.len() % 2 == 1 => return Err(Status::Syntax),
            b"set" if argv.len() >= 4 => set(s, &argv[2..]).await?,
            b"resetstat" if argv.len() == 2 => resetstat(s).await,
            b"rewrite" if argv.len() == 2 => {
                with_store(|store| store.rewrite()).map_err(Status::err)?;
                s.reply().ok();
            }
            b"help" if argv.len() == 2 => reply_help(s, CONFIG_HELP),
            b"get" | b"set" | b"resetstat" | b"rewrite" | b"help" => {
                return Err(Status::WrongArity(format!(
                    "config|{}",
                    String::from_utf8_lossy(&sub)
                )))
            }
            _ => return Err(unknown_subcommand("config", &argv[1])),
        }
        Ok(())
    }
    .boxed_local()
}

/// Runs `f` on the shared store. CONFIG is not on the data path: a short lock is fine.
fn with_store<R>(f: impl FnOnce(&mut ConfigStore) -> R) -> R {
    let mut guard = CONFIG.lock().expect("config lock");
    f(guard.as_mut().expect("config store initialised at start"))
}

/// A map of names to values (a flat array for RESP2 clients), as Redis 7 replies.
fn get(s: &mut Session, patterns: &[Vec<u8>]) {
    let found = with_store(|store| store.get_many(patterns));
    let mut r = s.reply();
    r.map(found.len());
    for (name, value) in found {
        r.bulk_str(&name);
        r.bulk_str(&value);
    }
}

async fn set(s: &mut Session, args: &[Vec<u8>]) -> Result<(), Status> {
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = args
        .chunks(2)
        .map(|pair| (pair[0].clone(), pair[1].clone()))
        .collect();
    let local = is_local_client(&s.info.addr);
    let cores = s.core.cores;
    with_store(|store| {
        let before = store.settings().maxclients;
        store.config_set(&pairs, local)?;
        fit_maxclients(store, before, cores)
    })
    .map_err(Status::err)?;
    // Each core copies the store's settings when the message reaches it, so whichever
    // of two concurrent SETs is copied last, every core ends with the store's final state.
    s.core
        .call_all(|core| {
            let settings = with_store(|store| store.settings());
            core.shard.borrow_mut().hash_limits = Some(HashLimits::from_settings(&settings));
            core.shard.borrow_mut().list_fill = Some(Fill::from_settings(&settings));
            core.shard.borrow_mut().set_limits = Some(SetLimits::from_settings(&settings));
            core.shard.borrow_mut().zset_limits =
                Some(crate::shard::zset::ZsetLimits::from_settings(&settings));
            core.shard.borrow_mut().hll_sparse_max_bytes = Some(settings.hll_sparse_max_bytes);
            core.shard.borrow_mut().stream_limits =
                Some(crate::shard::stream::StreamLimits::from_settings(&settings));
            core.shard.borrow_mut().evict.config =
                crate::shard::evict::EvictConfig::from_settings(&settings);
            core.shard.borrow_mut().notify_flags =
                crate::shard::notify::effective(settings.notify_keyspace_events);
            *core.settings.borrow_mut() = settings;
            crate::process::publish_net(core.id);
        })
        .await;
    // A new maxmemory is compared against from the next command on: rebase the estimate
    // on the slots every core just published (process.rs).
    crate::process::refresh_used_memory(s.core.id);
    s.reply().ok();
    Ok(())
}

/// A raised `maxclients` raises the open files limit with it (Redis's updateMaxclients);
/// when the hard limit cannot fit that many clients the old value comes back and the SET
/// fails with Redis's text.
fn fit_maxclients(
    store: &mut crate::config::ConfigStore,
    before: u64,
    cores: usize,
) -> Result<(), String> {
    let wanted = store.settings().maxclients;
    if wanted <= before {
        return Ok(());
    }
    let fits = crate::server::raise_open_files_limit(wanted, cores);
    if fits == wanted {
        return Ok(());
    }
    store.set(&[(b"maxclients".to_vec(), before.to_string().into_bytes())])?;
    Err(format!(
        "ERR CONFIG SET failed (possibly related to argument 'maxclients') - The operating \
         system is not able to handle the specified number of clients, try with {fits}"
    ))
}

/// Redis's notion of a local client (for `enable-protected-configs local`): connected
/// from 127.0.0.1 or ::1.
fn is_local_client(addr: &str) -> bool {
    addr.parse::<std::net::SocketAddr>()
        .is_ok_and(|a| matches!(a.ip().to_string().as_str(), "127.0.0.1" | "::1"))
}

async fn resetstat(s: &mut Session) {
    s.core
        .call_all(|core| {
            *core.stats.borrow_mut() = Default::default();
            *core.histograms.borrow_mut() = Default::default();
            core.shard.borrow_mut().stats = Default::default();
        })
        .await;
    s.reply().ok();
}

pub static COMMANDS: &[Spec] = &[Spec {
    name: "config",
    arity: -2,
    flags: 0,
    keys: NO_KEYS,
    handler: Handler::Conn(config),
    group: "server",
    summary: "A container for server configuration commands.",
    since: "2.0.0",
    subcommands: &[
        ("get", -3, ADMIN | NOSCRIPT | LOADING | STALE),
        ("set", -4, ADMIN | NOSCRIPT | LOADING | STALE),
        ("resetstat", 2, ADMIN | NOSCRIPT | LOADING | STALE),
        ("rewrite", 2, ADMIN | NOSCRIPT | LOADING | STALE),
        ("help", 2, LOADING | STALE),
    ],
}];

#[cfg(test)]
mod tests {
    use super::is_local_client;

    #[test]
    fn local_clients_are_loopback_only() {
        assert!(is_local_client("127.0.0.1:5000"));
        assert!(is_local_client("[::1]:5000"));
        assert!(!is_local_client("127.0.0.2:5000"));
        assert!(!is_local_client("10.0.0.1:5000"));
        assert!(!is_local_client(""));
    }
}
