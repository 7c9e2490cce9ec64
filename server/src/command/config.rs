//! CONFIG GET/SET/RESETSTAT/REWRITE/HELP over the shared configuration store; a SET is
//! copied into every core's typed settings.

use super::args::is;
use super::session::Session;
use super::{flags::*, unknown_subcommand, Handler, Spec, Status, NO_KEYS};
use crate::server::CONFIG;
use futures::future::LocalBoxFuture;
use futures::FutureExt;

type Argv = Vec<Vec<u8>>;
type Done<'a> = LocalBoxFuture<'a, Result<(), Status>>;

fn config(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let sub = &argv[1];
        if is(sub, "get") && argv.len() >= 3 {
            let mut pairs = Vec::new();
            {
                let guard = CONFIG.lock().expect("config lock");
                let store = guard.as_ref().expect("config store initialised at start");
                for pattern in &argv[2..] {
                    for pair in store.get(pattern) {
                        if !pairs
                            .iter()
                            .any(|(name, _): &(String, String)| *name == pair.0)
                        {
                            pairs.push(pair);
                        }
                    }
                }
            }
            let mut r = s.reply();
            r.map(pairs.len());
            for (name, value) in pairs {
                r.bulk_str(&name);
                r.bulk_str(&value);
            }
            Ok(())
        } else if is(sub, "set") && argv.len() >= 4 && argv.len() % 2 == 0 {
            let pairs: Vec<(Vec<u8>, Vec<u8>)> = argv[2..]
                .chunks(2)
                .map(|c| (c[0].clone(), c[1].clone()))
                .collect();
            let settings = {
                let mut guard = CONFIG.lock().expect("config lock");
                let store = guard.as_mut().expect("config store initialised at start");
                store.set(&pairs).map_err(Status::err)?;
                store.settings()
            };
            s.core
                .call_all(move |core| *core.settings.borrow_mut() = settings.clone())
                .await;
            s.reply().ok();
            Ok(())
        } else if is(sub, "resetstat") && argv.len() == 2 {
            s.core
                .call_all(|core| {
                    *core.stats.borrow_mut() = Default::default();
                    let mut shard = core.shard.borrow_mut();
                    shard.stats = Default::default();
                })
                .await;
            s.reply().ok();
            Ok(())
        } else if is(sub, "get") || is(sub, "set") || is(sub, "resetstat") {
            Err(Status::WrongArity(format!(
                "config|{}",
                String::from_utf8_lossy(sub).to_ascii_lowercase()
            )))
        } else {
            Err(unknown_subcommand("config", sub))
        }
    }
    .boxed_local()
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
    ],
}];
