//! Restart: the log is replayed into the shards before the server serves any command that
//! touches data (until then, such commands get Redis's `-LOADING` error; INFO works and
//! shows the progress).
//!
//! The log core reads every record, checks it was written by an engine this build
//! understands, and sends each op to the core owning its key (ops without a key go to
//! every core), batched per destination. Replay needs no clock and no randomness: a
//! logged command runs with the clock it used originally (shard/effect.rs), so the state
//! it rebuilds is the state the acknowledged writes made, whatever the core count.

use super::sequencer::LocalLog;
use super::ENGINE_VERSION;
use crate::command::{table, Args, Handler};
use crate::core::mesh::Msg;
use crate::core::Core;
use crate::resp::{Proto, Reply};
use crate::shard::effect::{self, Op};
use crate::shard::journal::{RECORD_KIND_EFFECTS, RECORD_KIND_FRAGMENT};
use crate::shard::slot::key_core;
use crate::shard::{Ctx, Shard};
use std::rc::Rc;
use std::sync::atomic::Ordering;

/// Ops sent to a core in one message during replay.
const REPLAY_CHUNK_BYTES: usize = 256 * 1024;

/// Replays the whole log into every core's shard. Err: a message for the operator (a
/// record from a newer engine, or a log that cannot be read).
pub async fn replay(core: &Rc<Core>, log: &LocalLog, dir: &str) -> Result<(), String> {
    let loading = &core.global.commit.loading;
    let first = log.first_lsn().0;
    let last = log.next_lsn().0 - 1;
    loading.first_lsn.store(first, Ordering::Relaxed);
    loading.last_lsn.store(last, Ordering::Relaxed);
    loading
        .started_unix_s
        .store(crate::shard::unix_ms() / 1000, Ordering::Relaxed);
    let mut reader = log.reader(log.first_lsn()).map_err(|e| e.to_string())?;
    let mut out: Vec<Vec<u8>> = vec![Vec::new(); core.cores];
    // The fragments of a large effect, joined until its final record (journal.rs).
    let mut chain = Chain::default();
    while let Some(record) = reader.next().await.map_err(|e| e.to_string())? {
        let lsn = record.lsn.0;
        if record.engine_version > ENGINE_VERSION {
            return Err(format!(
                "the log in {dir} holds record {lsn} written by engine version {}, newer than \
                 this build's {ENGINE_VERSION}; run a holdfast-server at least as new as the \
                 one that wrote it",
                record.engine_version
            ));
        }
        let payload = match record.kind {
            RECORD_KIND_FRAGMENT => {
                chain
                    .fragment(&record.payload)
                    .map_err(|e| format!("the log in {dir}: record {lsn}: {e}"))?;
                continue;
            }
            RECORD_KIND_EFFECTS => chain.complete(lsn, record.payload),
            kind => {
                return Err(format!(
                    "the log in {dir} holds record {lsn} of unknown kind {kind}"
                ))
            }
        };
        route(&payload, core.cores, &mut out)
            .map_err(|e| format!("the log in {dir}: record {lsn}: {e}"))?;
        for (dest, ops) in out.iter_mut().enumerate() {
            if ops.len() >= REPLAY_CHUNK_BYTES {
                ship(core, dest, std::mem::take(ops)).await;
            }
        }
        loading.loaded_lsn.store(lsn, Ordering::Relaxed);
        loading
            .loaded_bytes
            .fetch_add(payload.len() as u64, Ordering::Relaxed);
        glommio::yield_if_needed().await;
    }
    for (dest, ops) in out.into_iter().enumerate() {
        if !ops.is_empty() {
            ship(core, dest, ops).await;
        }
    }
    // Messages from this core arrive in order: once every core answered this call, every
    // op sent before it has been applied.
    core.call_all(|_| ()).await;
    Ok(())
}

/// The fragments of one large effect, waiting for its final record.
#[derive(Default)]
struct Chain {
    final_lsn: u64,
    bytes: Vec<u8>,
}

impl Chain {
    fn fragment(&mut self, payload: &[u8]) -> Result<(), &'static str> {
        let Some((final_lsn, piece)) = payload.split_first_chunk::<8>() else {
            return Err("a fragment too short to name its final record");
        };
        let final_lsn = u64::from_le_bytes(*final_lsn);
        if final_lsn != self.final_lsn {
            // A chain cut short by a crash (its write was never acknowledged): drop it.
            self.bytes.clear();
            self.final_lsn = final_lsn;
        }
        self.bytes.extend_from_slice(piece);
        Ok(())
    }

    /// The whole effect whose final record is `payload` at `lsn`.
    fn complete(&mut self, lsn: u64, payload: Vec<u8>) -> Vec<u8> {
        if self.final_lsn != lsn {
            self.bytes.clear();
            self.final_lsn = 0;
            return payload;
        }
        self.final_lsn = 0;
        let mut joined = std::mem::take(&mut self.bytes);
        joined.extend_from_slice(&payload);
        joined
    }
}

/// Appends each op of `payload` to the buffer of the core it belongs to.
fn route(payload: &[u8], cores: usize, out: &mut [Vec<u8>]) -> Result<(), effect::Malformed> {
    let mut ops = effect::ops(payload);
    while let Some(op) = ops.next_with_raw() {
        let (op, raw) = op?;
        match owner(&op, payload, cores) {
            Some(dest) => out[dest].extend_from_slice(raw),
            None => out.iter_mut().for_each(|o| o.extend_from_slice(raw)),
        }
    }
    Ok(())
}

/// The core owning the op's key; None for ops every core applies.
fn owner(op: &Op, payload: &[u8], cores: usize) -> Option<usize> {
    match op {
        Op::Cmd { args, .. } => {
            let argv = Args::new(payload, args);
            let spec = table().lookup(argv.name()).map(|(_, spec)| spec)?;
            let key = spec.keys.positions(args.len()).next()?;
            Some(key_core(argv.get(key), cores))
        }
        Op::Del { key, .. } | Op::Put { key, .. } => Some(key_core(key, cores)),
        Op::FlushDb { .. } | Op::SwapDb { .. } => None,
        // The library store is shared by every core: one core restores it.
        Op::Functions { .. } => Some(0),
    }
}

async fn ship(core: &Rc<Core>, dest: usize, ops: Vec<u8>) {
    if dest == core.id {
        apply(&mut core.shard.borrow_mut(), &ops);
    } else {
        core.send(dest, Msg::Replay(ops)).await;
    }
}

/// Applies ops routed to this shard, in log order.
pub fn apply(shard: &mut Shard, ops: &[u8]) {
    let mut scratch = Vec::new();
    for op in effect::ops(ops) {
        let op = op.expect("ops were decoded once already on the log core");
        shard.journal.begin();
        match op {
            Op::Cmd { db, now_ms, args } => {
                shard.observe_time(now_ms);
                let mut argv = Args::new(ops, &args);
                let Some((_, spec)) = table().lookup(argv.name()) else {
                    continue;
                };
                if let Handler::Shard(handler) = spec.handler {
                    scratch.clear();
                    let mut reply = Reply::new(&mut scratch, Proto::Resp2);
                    // An error here is the error the command gave when it ran (it was logged
                    // because it changed something first, or not at all): same outcome.
                    let _ = handler(
                        &mut Ctx::replaying(shard, db, now_ms),
                        &mut argv,
                        &mut reply,
                    );
                }
            }
            Op::Del { db, key } => {
                shard.dbs[db].remove(key);
            }
            Op::Put {
                db,
                key,
                expire_at_ms,
                value,
            } => {
                let lru = shard.fresh_lru();
                shard.dbs[db].insert(key, value, expire_at_ms, lru);
            }
            Op::FlushDb { db } => drop(shard.flush_dbs(db..db + 1)),
            Op::SwapDb { a, b } => shard.swap_dbs(a, b),
            Op::Functions { libraries } => crate::script::functions::restore(&libraries),
        }
    }
    shard.journal.begin();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::value::Value;

    fn get(shard: &mut Shard, db: usize, key: &[u8]) -> Option<(Vec<u8>, u64)> {
        let entry = shard.dbs[db].raw_get(key)?;
        let Value::Str(v) = &entry.value else {
            panic!("{key:?} holds a {}", entry.value.type_name())
        };
        Some((v.clone(), entry.expire_at_ms))
    }

    #[test]
    fn logged_commands_replay_with_the_clock_they_ran_with() {
        let mut ops = Vec::new();
        let now = 1_700_000_000_000;
        effect::cmd(
            &mut ops,
            0,
            now,
            [&b"SET"[..], b"k", b"v", b"EX", b"10"].into_iter(),
        );
        effect::cmd(
            &mut ops,
            0,
            now + 5,
            [&b"APPEND"[..], b"k", b"w"].into_iter(),
        );
        effect::cmd(&mut ops, 2, now, [&b"INCRBY"[..], b"n", b"41"].into_iter());
        effect::cmd(&mut ops, 2, now, [&b"INCR"[..], b"n"].into_iter());
        let mut shard = Shard::journaled(1, true);
        apply(&mut shard, &ops);
        assert_eq!(
            get(&mut shard, 0, b"k"),
            Some((b"vw".to_vec(), now + 10_000))
        );
        assert_eq!(get(&mut shard, 2, b"n"), Some((b"42".to_vec(), 0)));
    }

    #[test]
    fn an_expired_key_is_absent_at_the_logged_time_only() {
        let now = 1_700_000_000_000;
        let mut ops = Vec::new();
        effect::cmd(
            &mut ops,
            0,
            now,
            [&b"SET"[..], b"k", b"old", b"PX", b"100"].into_iter(),
        );
        // 50 ms later the key still exists: NX must fail, as it did when it ran.
        effect::cmd(
            &mut ops,
            0,
            now + 50,
            [&b"SET"[..], b"k", b"new", b"NX"].into_iter(),
        );
        let mut shard = Shard::journaled(1, true);
        apply(&mut shard, &ops);
        assert_eq!(get(&mut shard, 0, b"k").unwrap().0, b"old");
        // 200 ms later it had expired: NX succeeds.
        let mut later = Vec::new();
        effect::cmd(
            &mut later,
            0,
            now + 200,
            [&b"SET"[..], b"k", b"new", b"NX"].into_iter(),
        );
        apply(&mut shard, &later);
        assert_eq!(get(&mut shard, 0, b"k"), Some((b"new".to_vec(), 0)));
    }

    #[test]
    fn a_chain_cut_short_is_never_joined_with_the_next_record() {
        let mut chain = Chain::default();
        let fragment = |final_lsn: u64, piece: &[u8]| {
            let mut p = final_lsn.to_le_bytes().to_vec();
            p.extend_from_slice(piece);
            p
        };
        chain.fragment(&fragment(12, b"ab")).unwrap();
        chain.fragment(&fragment(12, b"cd")).unwrap();
        assert_eq!(chain.complete(12, b"ef".to_vec()), b"abcdef");
        // A crash after LSN 20's first fragment; the restarted server logged LSN 21 next.
        chain.fragment(&fragment(22, b"lost")).unwrap();
        assert_eq!(chain.complete(21, b"next".to_vec()), b"next");
        chain.fragment(&fragment(30, b"x")).unwrap();
        chain.fragment(&fragment(31, b"y")).unwrap();
        assert_eq!(chain.complete(31, b"z".to_vec()), b"yz");
        assert!(chain.fragment(b"short").is_err());
    }

    #[test]
    fn physical_ops_apply_and_keyless_ones_route_everywhere() {
        let mut ops = Vec::new();
        effect::put(&mut ops, 1, b"a", &Value::Str(b"x".to_vec()), 99);
        effect::del(&mut ops, 1, b"gone");
        effect::swapdb(&mut ops, 1, 3);
        let mut out = vec![Vec::new(); 4];
        route(&ops, 4, &mut out).unwrap();
        let owner = key_core(b"a", 4);
        for (core, bytes) in out.iter().enumerate() {
            let kinds: Vec<u8> = effect::ops(bytes)
                .map(|op| match op.unwrap() {
                    Op::Put { .. } => effect::PUT,
                    Op::Del { .. } => effect::DEL,
                    Op::SwapDb { .. } => effect::SWAPDB,
                    _ => 99,
                })
                .collect();
            assert_eq!(kinds.contains(&effect::PUT), core == owner);
            assert!(kinds.contains(&effect::SWAPDB));
        }
        let mut shard = Shard::journaled(1, true);
        shard.dbs[1].insert(b"gone", Value::Str(b"y".to_vec()), 0, 0);
        apply(&mut shard, &ops);
        assert_eq!(get(&mut shard, 3, b"a"), Some((b"x".to_vec(), 99)));
        assert!(get(&mut shard, 3, b"gone").is_none());
        assert!(shard.dbs[1].is_empty());
    }
}
