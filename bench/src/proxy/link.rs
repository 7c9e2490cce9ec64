//! The faults of one direction of the proxy's links, and the pipe that forwards one
//! direction of one connection under them.
//!
//! TCP is a byte stream, so the faults are what an application sees of a faulty network
//! under TCP, not what happens to packets:
//!
//! - `delay` (with `jitter`): each chunk read is released `delay + U(0, jitter)` later,
//!   but never before the chunk read before it (TCP delivers in order, so jitter only
//!   ever adds head-of-line waiting; it never reorders bytes).
//! - `loss P`: a chunk is "lost" with probability P and held back for a retransmission
//!   timeout ([`RTO`], doubling while losses follow each other, as TCP backs off), with
//!   everything behind it: the bytes arrive late and intact, as on a lossy link.
//! - `drop P`: a chunk is discarded with probability P, and the connection with it
//!   (both sockets shut down): a stream with a hole in it cannot go on, so the honest
//!   outcome of losing bytes for good is a broken connection.
//! - `held` (a partition of this direction): nothing is forwarded until it heals; the
//!   pipe stops reading too, so the sender's socket buffers fill and it blocks, as
//!   behind a real partition while TCP retransmits. On healing, the held bytes arrive in
//!   order (a request held while its client gave up still reaches the server).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::{Duration, Instant};

/// Which way bytes flow through the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client to server: requests.
    Up,
    /// Server to client: replies (and, for a replica's link, the replication stream).
    Down,
}

/// The faults of one direction; the default is a healthy link.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinkFaults {
    pub delay: Duration,
    pub jitter: Duration,
    /// Probability per chunk of a retransmission hold.
    pub loss: f64,
    /// Probability per chunk of losing it for good, which closes the connection.
    pub drop: f64,
    /// Partitioned: nothing forwarded.
    pub held: bool,
}

/// The first retransmission timeout of a lost chunk: Linux's minimum RTO.
pub const RTO: Duration = Duration::from_millis(200);
/// Consecutive losses double the hold at most this many times (200 ms .. 6.4 s).
const BACKOFF_MAX: u32 = 5;
/// Bytes read at once; a chunk is the unit the faults apply to.
const CHUNK: usize = 16 * 1024;
/// Chunks read ahead of the writer: bounds the memory a held or delayed direction uses.
const CHUNKS_QUEUED_MAX: usize = 64;

/// What the pipe needs from the proxy it belongs to.
pub trait Control: Sync {
    /// The faults of `direction` now.
    fn faults(&self, direction: Direction) -> LinkFaults;
    /// Blocks while `direction` must forward nothing (partition, pause); false when the
    /// connection is to end instead.
    fn wait_until_forwarding(&self, direction: Direction) -> bool;
}

enum Chunk {
    Data(Vec<u8>),
    /// The source closed its side: pass the half-close on, in order.
    End,
}

/// Forwards `from` to `to` in `direction` until either side closes or fails; `close`
/// ends the whole connection (both directions). Runs a reader and a writer thread, so a
/// delayed chunk does not stop the next one from being read.
pub fn pipe(
    control: &dyn Control,
    direction: Direction,
    from: &TcpStream,
    to: &TcpStream,
    seed: u64,
    close: &(dyn Fn() + Sync),
) {
    let (sender, receiver) = sync_channel(CHUNKS_QUEUED_MAX);
    std::thread::scope(|scope| {
        scope.spawn(|| read_side(control, direction, from, sender, seed, close));
        write_side(control, direction, to, receiver, close);
    });
}

fn read_side(
    control: &dyn Control,
    direction: Direction,
    mut from: &TcpStream,
    sender: SyncSender<(Instant, Chunk)>,
    seed: u64,
    close: &(dyn Fn() + Sync),
) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut buffer = vec![0; CHUNK];
    let mut last_release = Instant::now();
    let mut losses_in_a_row = 0;
    loop {
        let read = from.read(&mut buffer);
        let faults = control.faults(direction);
        let chunk = match read {
            Ok(0) => Chunk::End,
            Ok(_) if rng.f64() < faults.drop => {
                close();
                return;
            }
            Ok(n) => Chunk::Data(buffer[..n].to_vec()),
            Err(_) => {
                close();
                return;
            }
        };
        let mut release = Instant::now() + faults.delay + jitter(&mut rng, faults.jitter);
        if rng.f64() < faults.loss {
            release += RTO * 2u32.pow(losses_in_a_row.min(BACKOFF_MAX));
            losses_in_a_row += 1;
        } else {
            losses_in_a_row = 0;
        }
        release = release.max(last_release);
        last_release = release;
        let end = matches!(chunk, Chunk::End);
        if sender.send((release, chunk)).is_err() || end {
            return;
        }
    }
}

fn jitter(rng: &mut fastrand::Rng, jitter: Duration) -> Duration {
    if jitter.is_zero() {
        return Duration::ZERO;
    }
    Duration::from_nanos(rng.u64(0..=jitter.as_nanos() as u64))
}

fn write_side(
    control: &dyn Control,
    direction: Direction,
    mut to: &TcpStream,
    receiver: Receiver<(Instant, Chunk)>,
    close: &(dyn Fn() + Sync),
) {
    for (release, chunk) in receiver {
        std::thread::sleep(release.saturating_duration_since(Instant::now()));
        if !control.wait_until_forwarding(direction) {
            close();
            return;
        }
        match chunk {
            Chunk::Data(bytes) => {
                if to.write_all(&bytes).is_err() {
                    close();
                    return;
                }
            }
            Chunk::End => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
        }
    }
}
