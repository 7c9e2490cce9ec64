//! `holdfast-bench run --cluster-mode` against two tiny in-test cluster nodes that split
//! the 16384 slots between them and answer `-MOVED` (or `-ASK`) for keys they do not
//! serve: every request must end up answered by the node serving its key, and the
//! client must learn the slot map rather than bounce every request.

mod common;

use common::{read_command, run};
use holdfast_bench::run::cluster::{key_slot, SLOTS};
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// What one node answered.
#[derive(Default)]
struct Counts {
    served: AtomicU64,
    moved: AtomicU64,
    asked: AtomicU64,
    /// Requests for the migrating slot served because ASKING came first.
    served_after_asking: AtomicU64,
}

/// One node: owns `owns` slots; for `migrating` it answers `-ASK` towards the other
/// node, which serves that slot only right after ASKING (and else sends it back with
/// MOVED, as a real importing node does).
struct Node {
    owns: fn(u16) -> bool,
    migrating: Option<u16>,
    other: OnceLock<String>,
    address: String,
    counts: Counts,
}

fn start(owns: fn(u16) -> bool, migrating: Option<u16>) -> (Arc<Node>, TcpListener) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let node = Arc::new(Node {
        owns,
        migrating,
        other: OnceLock::new(),
        address: listener.local_addr().unwrap().to_string(),
        counts: Counts::default(),
    });
    (node, listener)
}

fn listen(node: Arc<Node>, listener: TcpListener) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let node = node.clone();
            std::thread::spawn(move || answer(stream.unwrap(), &node));
        }
    });
}

/// Two nodes splitting the slots at the middle; `migrating` is a slot being moved from
/// the node owning it to the other one.
fn cluster(migrating: Option<u16>) -> (Arc<Node>, Arc<Node>) {
    let is_low = |s: &u16| (*s as usize) < SLOTS / 2;
    let (low, low_listener) = start(|s| (s as usize) < SLOTS / 2, migrating.filter(is_low));
    let (high, high_listener) = start(
        |s| (s as usize) >= SLOTS / 2,
        migrating.filter(|s| !is_low(s)),
    );
    low.other.set(high.address.clone()).unwrap();
    high.other.set(low.address.clone()).unwrap();
    listen(low.clone(), low_listener);
    listen(high.clone(), high_listener);
    (low, high)
}

fn answer(stream: TcpStream, node: &Node) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut asking = false;
    while let Some(args) = read_command(&mut reader) {
        let reply = reply(node, &args, asking);
        asking = args[0].eq_ignore_ascii_case(b"ASKING");
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

fn reply(node: &Node, args: &[Vec<u8>], asking: bool) -> String {
    let counts = &node.counts;
    if args[0].eq_ignore_ascii_case(b"ASKING") {
        return "+OK\r\n".into();
    }
    let Some(key) = args.get(1) else {
        return "-ERR this test node only serves commands with a key\r\n".into();
    };
    let slot = key_slot(key);
    let other = node.other.get().unwrap();
    let imported = !(node.owns)(slot) && asking;
    if node.migrating == Some(slot) {
        counts.asked.fetch_add(1, Ordering::Relaxed);
        return format!("-ASK {slot} {other}\r\n");
    }
    if !(node.owns)(slot) && !imported {
        counts.moved.fetch_add(1, Ordering::Relaxed);
        return format!("-MOVED {slot} {other}\r\n");
    }
    if imported {
        counts.served_after_asking.fetch_add(1, Ordering::Relaxed);
    }
    counts.served.fetch_add(1, Ordering::Relaxed);
    if args[0].eq_ignore_ascii_case(b"GET") {
        "$-1\r\n".into()
    } else {
        "+OK\r\n".into()
    }
}

fn port(node: &Node) -> u16 {
    node.address.rsplit_once(':').unwrap().1.parse().unwrap()
}

/// Keys memtier-0 ..= memtier-99, as `--key-maximum 99` makes them.
fn slots_of_keys(max: u64) -> Vec<u16> {
    let mut slots: Vec<u16> = (0..=max)
        .map(|n| key_slot(format!("memtier-{n}").as_bytes()))
        .collect();
    slots.sort_unstable();
    slots.dedup();
    slots
}

const WORKLOAD: [&str; 14] = [
    "-t",
    "1",
    "-c",
    "2",
    "-n",
    "500",
    "--pipeline",
    "4",
    "--ratio",
    "1:1",
    "--key-minimum",
    "0",
    "--key-maximum",
    "99",
];

#[test]
fn moved_replies_teach_the_slot_map() {
    let (low, high) = cluster(None);
    let report = run(
        port(&low),
        "moved",
        &[&WORKLOAD[..], &["--cluster-mode"]].concat(),
    );
    let totals = report.totals().unwrap();
    assert_eq!(totals.count, 2 * 500);
    assert_eq!(totals.errors, 0, "every MOVED was followed");
    let served = |n: &Node| n.counts.served.load(Ordering::Relaxed);
    // Requests sent before the measured phase begins are served too, unmeasured.
    assert!(served(&low) + served(&high) >= 2 * 500);
    assert!(served(&high) > 0 && served(&low) > 0);
    // Each of the 2 clients is told at most once per slot of the second node.
    let high_slots = slots_of_keys(99)
        .into_iter()
        .filter(|&s| (high.owns)(s))
        .count() as u64;
    let moved =
        low.counts.moved.load(Ordering::Relaxed) + high.counts.moved.load(Ordering::Relaxed);
    assert!(
        moved <= 2 * high_slots,
        "{moved} MOVED replies for {high_slots} slots: the slot map was not learned"
    );
}

#[test]
fn without_cluster_mode_moved_is_an_error() {
    let (low, _high) = cluster(None);
    let report = run(port(&low), "no-cluster", &WORKLOAD);
    let totals = report.totals().unwrap();
    assert_eq!(totals.count, 2 * 500);
    assert!(totals.errors > 0);
    // Each measured error is a MOVED (some more went to unmeasured early requests).
    assert!(totals.errors <= low.counts.moved.load(Ordering::Relaxed));
}

#[test]
fn ask_is_followed_once_after_asking() {
    let migrating = key_slot(b"memtier-7");
    let (low, high) = cluster(Some(migrating));
    // The node owning the slot answers ASK for it; the other one imports it.
    let (source, target) = if (low.owns)(migrating) {
        (low, high)
    } else {
        (high, low)
    };
    let args = [
        "-t",
        "1",
        "-c",
        "2",
        "-n",
        "300",
        "--ratio",
        "1:1",
        "--key-minimum",
        "0",
        "--key-maximum",
        "9",
        "--cluster-mode",
    ];
    let report = run(port(&source), "ask", &args);
    let totals = report.totals().unwrap();
    assert_eq!(totals.count, 2 * 300);
    assert_eq!(totals.errors, 0);
    let asked = source.counts.asked.load(Ordering::Relaxed);
    assert!(asked > 0, "memtier-7 is among 10 keys drawn 600 times");
    // Every ASK, measured or not, was followed to the target after ASKING, and none
    // stuck in the slot map.
    assert_eq!(
        target.counts.served_after_asking.load(Ordering::Relaxed),
        asked
    );
}
