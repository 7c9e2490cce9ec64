//! Transactions end to end with concurrent clients and keys on both cores (`--threads 2`):
//! what the reply-by-reply differential (diff/transactions.txt) cannot show.
//!
//! - Atomicity: transfers between accounts on different cores never show a reader a
//!   torn state (the sum is conserved in every read, inside MULTI or through MGET).
//! - Isolation for WATCH: increments done as WATCH / GET / MULTI / SET / EXEC by many
//!   clients lose none (a broken WATCH loses updates).
//! - Durability: a SIGKILL keeps every acknowledged transaction whole (DESIGN.md
//!   invariants 1 and 5: acknowledged only once logged, recovered after a crash).

mod common;
use common::{Server, TempDir};
use holdfast_server::shard::slot::key_core;
use redis::Connection;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ACCOUNTS_PER_CORE: usize = 3;
const OPENING_BALANCE: i64 = 1000;
/// Counted, not timed: a loaded 2-core machine runs few per second in a debug build.
const TRANSFERS_PER_WRITER: usize = 150;

fn keys_on(core: usize, prefix: &str, n: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .filter(|key| key_core(key.as_bytes(), 2) == core)
        .take(n)
        .collect()
}

/// Accounts spread over both cores.
fn accounts(prefix: &str) -> Vec<String> {
    let mut keys = keys_on(0, prefix, ACCOUNTS_PER_CORE);
    keys.extend(keys_on(1, prefix, ACCOUNTS_PER_CORE));
    keys
}

/// A small deterministic generator per thread (no rand dependency for two picks).
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn transfer(con: &mut Connection, from: &str, to: &str, amount: i64) {
    let (_, _): (i64, i64) = redis::pipe()
        .atomic()
        .cmd("DECRBY")
        .arg(from)
        .arg(amount)
        .cmd("INCRBY")
        .arg(to)
        .arg(amount)
        .query(con)
        .expect("a transfer runs");
}

#[test]
fn transfers_across_cores_never_show_a_torn_sum() {
    let server = Server::start();
    let accounts = Arc::new(accounts("acct:"));
    let total = OPENING_BALANCE * accounts.len() as i64;
    let mut con = server.client();
    for key in accounts.iter() {
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg(OPENING_BALANCE)
            .query(&mut con)
            .unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for seed in 1..=4u64 {
        let (url, accounts) = (server.url(), accounts.clone());
        threads.push(std::thread::spawn(move || {
            let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
            let mut state = seed * 0x9e37_79b9;
            for _ in 0..TRANSFERS_PER_WRITER {
                let from = next(&mut state) as usize % accounts.len();
                let to =
                    (from + 1 + next(&mut state) as usize % (accounts.len() - 1)) % accounts.len();
                transfer(&mut con, &accounts[from], &accounts[to], 1 + seed as i64);
            }
        }));
    }
    let mut readers = Vec::new();
    for through_multi in [true, false, true] {
        let (url, accounts, stop, reads) =
            (server.url(), accounts.clone(), stop.clone(), reads.clone());
        readers.push(std::thread::spawn(move || {
            let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
            while !stop.load(Ordering::Relaxed) {
                let balances: Vec<i64> = if through_multi {
                    let mut pipe = redis::pipe();
                    pipe.atomic();
                    accounts.iter().for_each(|key| {
                        pipe.cmd("GET").arg(key);
                    });
                    pipe.query(&mut con).unwrap()
                } else {
                    redis::cmd("MGET")
                        .arg(&accounts[..])
                        .query(&mut con)
                        .unwrap()
                };
                let sum: i64 = balances.iter().sum();
                assert_eq!(sum, total, "a reader saw half a transfer: {balances:?}");
                reads.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    threads.into_iter().for_each(|t| t.join().unwrap());
    stop.store(true, Ordering::Relaxed);
    readers.into_iter().for_each(|t| t.join().unwrap());
    let balances: Vec<i64> = redis::cmd("MGET")
        .arg(&accounts[..])
        .query(&mut con)
        .unwrap();
    assert_eq!(balances.iter().sum::<i64>(), total);
    let reads = reads.load(Ordering::Relaxed);
    assert!(reads > 50, "only {reads} reads ran beside the transfers");
}

/// One increment as a client library does compare-and-set: retry until EXEC runs.
fn cas_increment(con: &mut Connection, key: &str) -> u32 {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let _: () = redis::cmd("WATCH").arg(key).query(con).unwrap();
        let value: Option<i64> = redis::cmd("GET").arg(key).query(con).unwrap();
        let result: Option<(String,)> = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(key)
            .arg(value.unwrap_or(0) + 1)
            .query(con)
            .unwrap();
        if result.is_some() {
            return attempts;
        }
    }
}

#[test]
fn watch_loses_no_increment_under_contention() {
    const CLIENTS: u64 = 6;
    const INCREMENTS: u64 = 150;
    let server = Server::start();
    // One counter on each core: clients on either core contend for both.
    let counters = Arc::new([
        keys_on(0, "cas:", 1).remove(0),
        keys_on(1, "cas:", 1).remove(0),
    ]);
    let threads: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (url, counters) = (server.url(), counters.clone());
            std::thread::spawn(move || {
                let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
                let mut retries = 0;
                for i in 0..INCREMENTS {
                    let key = &counters[((client + i) % 2) as usize];
                    retries += cas_increment(&mut con, key) - 1;
                }
                retries
            })
        })
        .collect();
    let retries: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let mut con = server.client();
    let values: Vec<i64> = redis::cmd("MGET")
        .arg(&counters[..])
        .query(&mut con)
        .unwrap();
    assert_eq!(
        values.iter().sum::<i64>() as u64,
        CLIENTS * INCREMENTS,
        "increments were lost ({retries} retries)"
    );
    assert!(
        retries > 0,
        "no contention: the test did not exercise WATCH"
    );
}

#[test]
fn a_write_from_another_connection_aborts_exec_and_one_elsewhere_does_not() {
    let server = Server::start();
    let watched = keys_on(1, "w:", 1).remove(0);
    let other = keys_on(0, "w:", 1).remove(0);
    let mut a = server.client();
    let mut b = server.client();
    let _: () = redis::cmd("WATCH").arg(&watched).query(&mut a).unwrap();
    let _: () = redis::cmd("SET")
        .arg(&other)
        .arg("x")
        .query(&mut b)
        .unwrap();
    let ran: Option<(String,)> = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg(&watched)
        .arg(1)
        .query(&mut a)
        .unwrap();
    assert!(ran.is_some(), "a write to another key aborted EXEC");

    let _: () = redis::cmd("WATCH").arg(&watched).query(&mut a).unwrap();
    let _: () = redis::cmd("SET")
        .arg(&watched)
        .arg("theirs")
        .query(&mut b)
        .unwrap();
    let ran: Option<(String,)> = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg(&watched)
        .arg("mine")
        .query(&mut a)
        .unwrap();
    assert!(ran.is_none(), "EXEC ran although a watched key changed");
    let value: String = redis::cmd("GET").arg(&watched).query(&mut a).unwrap();
    assert_eq!(value, "theirs");

    // FLUSHALL changes a watched key that exists.
    let _: () = redis::cmd("WATCH").arg(&watched).query(&mut a).unwrap();
    let _: () = redis::cmd("FLUSHALL").query(&mut b).unwrap();
    let ran: Option<(String,)> = redis::pipe().atomic().cmd("PING").query(&mut a).unwrap();
    assert!(
        ran.is_none(),
        "EXEC ran although FLUSHALL removed a watched key"
    );
}

#[test]
fn acknowledged_transactions_survive_a_kill_whole() {
    let dir = TempDir::new("tx-kill");
    let server = Server::start_durable(&dir.path);
    let accounts = accounts("dur:");
    let mut con = server.client();
    for key in &accounts {
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg(OPENING_BALANCE)
            .query(&mut con)
            .unwrap();
    }
    let mut state = 7u64;
    let deadline = Instant::now() + Duration::from_millis(500);
    let mut done = 0;
    while Instant::now() < deadline || done < 50 {
        let from = next(&mut state) as usize % accounts.len();
        let to = (from + 1) % accounts.len();
        transfer(&mut con, &accounts[from], &accounts[to], 3);
        done += 1;
    }
    let before: Vec<i64> = redis::cmd("MGET")
        .arg(&accounts[..])
        .query(&mut con)
        .unwrap();
    server.kill();
    let server = Server::start_durable(&dir.path);
    let mut con = server.client();
    let after: Vec<i64> = redis::cmd("MGET")
        .arg(&accounts[..])
        .query(&mut con)
        .unwrap();
    assert_eq!(
        after, before,
        "the restart lost or tore an acknowledged transaction"
    );
}

/// A client blocked on a key is served by a push inside EXEC or a script, once the
/// transaction ends; and the served pop counts as a change for WATCH.
#[test]
fn pushes_inside_exec_and_scripts_serve_blocked_clients() {
    let server = Server::start();
    for (round, via_script) in [(0, false), (1, true)] {
        let key = keys_on(round % 2, "blk:", 1).remove(0);
        let url = server.url();
        let blocked_key = key.clone();
        let waiter = std::thread::spawn(move || {
            let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
            let got: Option<(String, String)> = redis::cmd("BLPOP")
                .arg(&blocked_key)
                .arg(10)
                .query(&mut con)
                .unwrap();
            got
        });
        let mut con = server.client();
        // Wait until the waiter is registered.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let info: String = redis::cmd("INFO").arg("clients").query(&mut con).unwrap();
            if info.contains("blocked_clients:1\r\n") {
                break;
            }
            assert!(Instant::now() < deadline, "the client never blocked");
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut watcher = server.client();
        let _: () = redis::cmd("WATCH").arg(&key).query(&mut watcher).unwrap();
        if via_script {
            let _: i64 = redis::cmd("EVAL")
                .arg("return redis.call('rpush', KEYS[1], 'v')")
                .arg(1)
                .arg(&key)
                .query(&mut con)
                .unwrap();
        } else {
            let (_,): (i64,) = redis::pipe()
                .atomic()
                .cmd("RPUSH")
                .arg(&key)
                .arg("v")
                .query(&mut con)
                .unwrap();
        }
        assert_eq!(waiter.join().unwrap(), Some((key.clone(), "v".to_string())));
        let ran: Option<(String,)> = redis::pipe()
            .atomic()
            .cmd("PING")
            .query(&mut watcher)
            .unwrap();
        assert!(
            ran.is_none(),
            "the push and the served pop did not abort the watcher"
        );
    }
}

/// A transaction of single-key commands locks only its keys (core/hold.rs): other
/// clients' commands, and other transactions on other keys, run beside it. None of them
/// may land inside it: a transaction that writes its keys and reads them back sees only
/// its own values, while other transactions, single-key writers and MSETs hammer the same
/// keys and others write unrelated keys on the same cores.
/// Durable, then restarted: the log, whose LSNs interleave the transactions with the
/// commands that ran beside them, replays to the same dataset (DEBUG DIGEST).
#[test]
fn single_key_commands_beside_a_transaction_never_land_inside_it() {
    const ROUNDS: usize = 150;
    let dir = TempDir::new("tx-beside");
    let server = Server::start_durable(&dir.path);
    let locked = accounts("iso:");
    let stop = Arc::new(AtomicBool::new(false));
    let mut transactions = Vec::new();
    for client in 0..3u64 {
        let (url, keys) = (server.url(), locked.clone());
        transactions.push(std::thread::spawn(move || {
            let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
            let mut state = 0x51_7cc1 + client;
            for round in 0..ROUNDS {
                let a = &keys[next(&mut state) as usize % ACCOUNTS_PER_CORE];
                let b = &keys[ACCOUNTS_PER_CORE + next(&mut state) as usize % ACCOUNTS_PER_CORE];
                let token = format!("tx{client}:{round}");
                let (_, _, seen_a, seen_b): ((), (), String, String) = redis::pipe()
                    .atomic()
                    .cmd("SET")
                    .arg(a)
                    .arg(&token)
                    .cmd("SET")
                    .arg(b)
                    .arg(&token)
                    .cmd("GET")
                    .arg(a)
                    .cmd("GET")
                    .arg(b)
                    .query(&mut con)
                    .unwrap();
                assert_eq!(
                    (seen_a.as_str(), seen_b.as_str()),
                    (token.as_str(), token.as_str()),
                    "a command of another client ran inside the transaction"
                );
            }
        }));
    }
    let mut others = Vec::new();
    for writer in 0..4u64 {
        let (url, keys, stop) = (server.url(), locked.clone(), stop.clone());
        others.push(std::thread::spawn(move || {
            let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // Writer 0 hammers the transactions' keys one at a time, writer 1 all of
                // them at once (MSET holds both cores whole), the others keys beside them.
                let value = format!("w{writer}:{n}");
                let (first, second) = (
                    n as usize % keys.len(),
                    (n as usize + ACCOUNTS_PER_CORE) % keys.len(),
                );
                let mut command = match writer {
                    0 => redis::cmd("SET"),
                    1 => redis::cmd("MSET"),
                    _ => redis::cmd("SET"),
                };
                match writer {
                    0 => command.arg(&keys[first]).arg(&value),
                    1 => command
                        .arg(&keys[first])
                        .arg(&value)
                        .arg(&keys[second])
                        .arg(&value),
                    _ => command
                        .arg(format!("beside:{writer}:{}", n % 64))
                        .arg(&value),
                };
                let _: () = command.query(&mut con).unwrap();
                n += 1;
            }
            n
        }));
    }
    transactions.into_iter().for_each(|t| t.join().unwrap());
    stop.store(true, Ordering::Relaxed);
    let writes: u64 = others.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(
        writes > 100,
        "only {writes} writes ran beside the transactions"
    );
    let mut con = server.client();
    let digest: String = redis::cmd("DEBUG").arg("DIGEST").query(&mut con).unwrap();
    server.kill();
    let server = Server::start_durable(&dir.path);
    let mut con = server.client();
    let replayed: String = redis::cmd("DEBUG").arg("DIGEST").query(&mut con).unwrap();
    assert_eq!(
        replayed, digest,
        "the log did not replay to the same dataset"
    );
}

/// Single-key reads that run beside transactions (core/hold.rs) still see each one whole:
/// a transaction writes the same counter to a key on each core, and readers read the two
/// keys one GET at a time, in both orders. Once a reader has seen a transaction's write on
/// one core, its next read on the other core sees at least as much (the first key stays
/// locked until the transaction has written the second and released both). Between its
/// two writes the transaction scans a long list on the second core (LPOS of a missing
/// element), so a reader let in too early has time to see the tear.
#[test]
fn single_key_readers_see_a_transaction_whole() {
    const ROUNDS: i64 = 300;
    let server = Server::start();
    let (a, b) = (
        keys_on(0, "whole:", 1).remove(0),
        keys_on(1, "whole:", 1).remove(0),
    );
    let long = keys_on(1, "long:", 1).remove(0);
    let mut con = server.client();
    for chunk in 0..20 {
        let items: Vec<i64> = (chunk * 2000..(chunk + 1) * 2000).collect();
        let _: i64 = redis::cmd("RPUSH")
            .arg(&long)
            .arg(&items)
            .query(&mut con)
            .unwrap();
    }
    let _: () = redis::cmd("MSET")
        .arg(&a)
        .arg(0)
        .arg(&b)
        .arg(0)
        .query(&mut con)
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for (first, second) in [(a.clone(), b.clone()), (b.clone(), a.clone())] {
        let (url, stop) = (server.url(), stop.clone());
        readers.push(std::thread::spawn(move || {
            let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
            let mut reads = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let seen: i64 = redis::cmd("GET").arg(&first).query(&mut con).unwrap();
                let then: i64 = redis::cmd("GET").arg(&second).query(&mut con).unwrap();
                assert!(
                    then >= seen,
                    "read {first} = {seen}, then {second} = {then}: half a transaction"
                );
                reads += 1;
            }
            reads
        }));
    }
    for n in 1..=ROUNDS {
        let _: ((), Option<i64>, ()) = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(&a)
            .arg(n)
            .cmd("LPOS")
            .arg(&long)
            .arg("missing")
            .cmd("SET")
            .arg(&b)
            .arg(n)
            .query(&mut con)
            .unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let reads: u64 = readers.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(reads > 50, "only {reads} reads ran beside the transactions");
}
