//! One client connection: its socket, its output and input buffers, and the requests in
//! flight with the time each was meant to be sent.
//!
//! Latency is measured from the *intended* send time. In closed-loop mode that is when
//! the request is queued; in open-loop mode (`--rate`) it is the request's slot in the
//! schedule, so a request delayed because the server was slow to answer the one before
//! still counts the wait (no coordinated omission, as in wrk2).
//!
//! In `--cluster-mode` one client holds a socket (a [`Link`]) per node it has heard of,
//! as memtier does: requests go to the node the client's slot map names for their key's
//! slot; a `-MOVED` reply updates the map and resends the request there, an `-ASK` reply
//! resends it once to the named node after `ASKING`. Latency still counts from the
//! intended send time, so redirections show as the latency the client really saw.

use super::cluster::{self, SLOTS};
use super::keys::{self, Cursor};
use super::record::Record;
use super::reply::{self, Kind, Redirection};
use super::{Plan, Protocol};
use crate::resp::encode;
use fastrand::Rng;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// The read buffer starts here and doubles while one reply does not fit.
const INPUT_BYTES_INITIAL: usize = 64 * 1024;
/// A request redirected this often is answered with its last redirection, counted as an
/// error: a cluster whose nodes keep pointing at each other must not loop the client.
const REDIRECTS_MAX: u8 = 5;

struct InFlight {
    template: usize,
    intended: Instant,
    bytes_out: usize,
    /// Sent during the measured phase: only these are recorded.
    measured: bool,
    /// Cluster mode: the request as sent, to resend on a redirection.
    request: Option<Box<[u8]>>,
    redirects: u8,
    /// Its reply answers no request: the `ASKING` before a request redirected by `-ASK`,
    /// or a command before the last of a several-command request.
    asking: bool,
}

/// One socket to one server (one per cluster node in cluster mode).
struct Link {
    /// "host:port", as the seed flags or a redirection named it.
    address: String,
    stream: TcpStream,
    out: Vec<u8>,
    out_at: usize,
    input: Vec<u8>,
    input_len: usize,
    in_flight: VecDeque<InFlight>,
}

/// Open-loop pacing of one connection.
struct Schedule {
    next: Instant,
    interval: Duration,
}

pub struct Connection {
    links: Vec<Link>,
    /// Cluster mode: the index in `links` of the node serving each slot, as learned from
    /// `-MOVED` (all slots start at the seed node, links[0]).
    slots: Option<Box<[u8]>>,
    protocol: Protocol,
    /// Requests in flight over all links (`ASKING`s not counted).
    in_flight: usize,
    rng: Rng,
    cursors: Vec<Cursor>,
    key: Vec<u8>,
    /// Measured requests this connection may still send; `None` runs until stopped.
    budget: Option<u64>,
    schedule: Option<Schedule>,
}

impl Connection {
    /// Connects to the seed server (-s, -p); `index` of `of` places this connection's sequential and parallel key cursors.
    pub fn open(plan: &Plan, index: u64, of: u64) -> io::Result<Connection> {
        let address = format!("{}:{}", plan.host, plan.port);
        let seed = Link::open(address, plan.protocol, plan.pipeline)?;
        let cursors: Vec<Cursor> = plan
            .mix
            .templates
            .iter()
            .map(|_| Cursor::new(&plan.keys, index, of))
            .collect();
        let budget = plan.budget(&cursors[0]);
        let mut rng = Rng::with_seed(plan.seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let schedule = plan.rate_per_connection().map(|rate| {
            let interval = Duration::from_secs_f64(1.0 / rate);
            // A random phase, so connections do not all send in the same instant.
            let offset = interval.mul_f64(rng.f64());
            Schedule {
                next: Instant::now() + offset,
                interval,
            }
        });
        Ok(Connection {
            links: vec![seed],
            slots: plan.cluster.then(|| vec![0u8; SLOTS].into_boxed_slice()),
            protocol: plan.protocol,
            in_flight: 0,
            rng,
            cursors,
            key: Vec::with_capacity(plan.key_prefix.len() + 20),
            budget,
            schedule,
        })
    }

    /// One pollfd per link, in link order: POLLIN always, POLLOUT while output waits.
    pub fn poll_entries(&self, pollfds: &mut Vec<libc::pollfd>) {
        for link in &self.links {
            let mut events = libc::POLLIN;
            if link.out_at < link.out.len() {
                events |= libc::POLLOUT;
            }
            pollfds.push(libc::pollfd {
                fd: link.stream.as_raw_fd(),
                events,
                revents: 0,
            });
        }
    }

    pub fn links(&self) -> usize {
        self.links.len()
    }

    /// Sent all its measured requests and heard every reply.
    pub fn is_done(&self) -> bool {
        self.budget == Some(0) && self.in_flight == 0
    }

    /// When this connection next wants to send, if it is paced and has room to.
    pub fn next_send(&self, plan: &Plan) -> Option<Instant> {
        let room = self.in_flight < plan.pipeline && self.budget != Some(0);
        self.schedule.as_ref().filter(|_| room).map(|s| s.next)
    }

    /// Queues requests up to the pipeline depth (and, paced, up to `now`).
    pub fn fill(&mut self, plan: &Plan, now: Instant, measuring: bool) {
        while self.in_flight < plan.pipeline {
            if measuring && self.budget == Some(0) {
                return;
            }
            let intended = match &mut self.schedule {
                None => now,
                Some(s) if s.next > now => return,
                Some(s) => {
                    let slot = s.next;
                    s.next += s.interval;
                    slot
                }
            };
            self.queue(plan, intended, measuring);
        }
    }

    fn queue(&mut self, plan: &Plan, intended: Instant, measuring: bool) {
        let template = plan.mix.pick(&mut self.rng);
        let spec = &plan.mix.templates[template];
        self.key.clear();
        if spec.uses_key() {
            let n = keys::next(
                spec.pattern,
                &plan.keys,
                &mut self.cursors[template],
                &mut self.rng,
            );
            self.key.extend_from_slice(&plan.key_prefix);
            super::workload::push_decimal(n, &mut self.key);
        }
        let size = plan.data_size.pick(&mut self.rng);
        let link = match &self.slots {
            Some(slots) if spec.uses_key() => slots[cluster::key_slot(&self.key) as usize],
            _ => 0,
        };
        let link = &mut self.links[link as usize];
        let before = link.out.len();
        spec.encode(&self.key, &plan.data[..size], &mut link.out);
        if measuring {
            self.budget = self.budget.map(|b| b - 1);
        }
        self.in_flight += 1;
        // A request of several commands (MULTI ... EXEC): the replies before the last
        // complete nothing; the last one times the whole request.
        for _ in 1..spec.replies() {
            link.in_flight.push_back(InFlight {
                template,
                intended,
                bytes_out: 0,
                measured: false,
                request: None,
                redirects: 0,
                asking: true,
            });
        }
        link.in_flight.push_back(InFlight {
            template,
            intended,
            bytes_out: link.out.len() - before,
            measured: measuring,
            request: self.slots.as_ref().map(|_| link.out[before..].into()),
            redirects: 0,
            asking: false,
        });
    }

    /// Writes what every link's socket takes now.
    pub fn flush(&mut self) -> io::Result<()> {
        self.links.iter_mut().try_for_each(Link::flush)
    }

    /// Acts on poll's verdict for each link (`ready` in link order): writes where there
    /// is room, reads and records replies where there is input, as of `now`. Returns how
    /// many measured replies completed and their latency sum in microseconds.
    pub fn ready(
        &mut self,
        ready: &[libc::pollfd],
        now: Instant,
        records: &mut [Record],
    ) -> io::Result<(u64, u64)> {
        let (mut ops, mut latency_sum_us) = (0, 0);
        for (index, pollfd) in ready.iter().enumerate() {
            if pollfd.revents & libc::POLLOUT != 0 {
                self.links[index].flush()?;
            }
            if pollfd.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                let (o, l) = self.receive(index, now, records)?;
                ops += o;
                latency_sum_us += l;
            }
        }
        Ok((ops, latency_sum_us))
    }

    fn receive(
        &mut self,
        index: usize,
        now: Instant,
        records: &mut [Record],
    ) -> io::Result<(u64, u64)> {
        if !self.links[index].read()? {
            return Ok((0, 0));
        }
        let cluster = self.slots.is_some();
        let mut redirected = Vec::new();
        let link = &mut self.links[index];
        let (mut ops, mut latency_sum_us) = (0, 0);
        let mut at = 0;
        while let Some(scanned) = reply::scan(&link.input[at..link.input_len])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
        {
            let bytes = &link.input[at..at + scanned.len];
            at += scanned.len;
            if scanned.kind == Kind::Push {
                continue;
            }
            let request = link.in_flight.pop_front().ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, "a reply to no request")
            })?;
            if request.asking {
                continue;
            }
            if cluster && scanned.kind == Kind::Error && request.redirects < REDIRECTS_MAX {
                if let Some(redirection) = reply::redirection(bytes) {
                    redirected.push((redirection, request));
                    continue;
                }
            }
            self.in_flight -= 1;
            if request.measured {
                let micros = now.saturating_duration_since(request.intended).as_micros() as u64;
                record(
                    &mut records[request.template],
                    scanned,
                    request.bytes_out,
                    micros,
                );
                ops += 1;
                latency_sum_us += micros;
            }
        }
        link.input.copy_within(at..link.input_len, 0);
        link.input_len -= at;
        for ((redirection, slot, address), request) in redirected {
            self.follow(redirection, slot, address, request)?;
        }
        Ok((ops, latency_sum_us))
    }

    /// Resends a redirected request to `address` (connecting to it first if new):
    /// after updating the slot map for MOVED, after `ASKING` for ASK.
    fn follow(
        &mut self,
        redirection: Redirection,
        slot: u16,
        address: String,
        mut request: InFlight,
    ) -> io::Result<()> {
        let index = self.link_to(address)?;
        let link = &mut self.links[index];
        match redirection {
            Redirection::Moved => {
                if let Some(slots) = &mut self.slots {
                    slots[slot as usize % SLOTS] = index as u8;
                }
            }
            Redirection::Ask => {
                let before = link.out.len();
                encode(&[b"ASKING"], &mut link.out);
                link.in_flight.push_back(InFlight {
                    template: request.template,
                    intended: request.intended,
                    bytes_out: link.out.len() - before,
                    measured: false,
                    request: None,
                    redirects: 0,
                    asking: true,
                });
            }
        }
        let bytes = request.request.as_deref().unwrap_or_default();
        link.out.extend_from_slice(bytes);
        request.bytes_out += bytes.len();
        request.redirects += 1;
        link.in_flight.push_back(request);
        Ok(())
    }

    /// The link to `address`, connected now if this client has none yet.
    fn link_to(&mut self, address: String) -> io::Result<usize> {
        let address = same_host(address, &self.links[0].address);
        if let Some(index) = self.links.iter().position(|l| l.address == address) {
            return Ok(index);
        }
        if self.links.len() > u8::MAX as usize {
            return Err(io::Error::other(format!(
                "redirected to more than {} cluster nodes",
                u8::MAX as usize + 1
            )));
        }
        let capacity = self.links[0].in_flight.capacity();
        self.links
            .push(Link::open(address, self.protocol, capacity)?);
        Ok(self.links.len() - 1)
    }
}

impl Link {
    /// Connects (and says HELLO 3 for RESP3) while blocking, then turns non-blocking.
    fn open(address: String, protocol: Protocol, pipeline: usize) -> io::Result<Link> {
        let (host, port) = address
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse::<u16>().ok()?)))
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("not a host:port address: {address:?}"),
                )
            })?;
        let mut stream = TcpStream::connect((host, port))
            .map_err(|e| io::Error::new(e.kind(), format!("{address}: {e}")))?;
        stream.set_nodelay(true)?;
        if protocol == Protocol::Resp3 {
            hello3(&mut stream)?;
        }
        stream.set_nonblocking(true)?;
        Ok(Link {
            address,
            stream,
            out: Vec::with_capacity(16 * 1024),
            out_at: 0,
            input: vec![0; INPUT_BYTES_INITIAL],
            input_len: 0,
            in_flight: VecDeque::with_capacity(pipeline),
        })
    }

    /// Writes what the socket takes now.
    fn flush(&mut self) -> io::Result<()> {
        while self.out_at < self.out.len() {
            match self.stream.write(&self.out[self.out_at..]) {
                Ok(0) => return Err(closed()),
                Ok(n) => self.out_at += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.out_at = 0;
        Ok(())
    }

    /// Reads what arrived; false when nothing did.
    fn read(&mut self) -> io::Result<bool> {
        if self.input_len == self.input.len() {
            self.input.resize(self.input.len() * 2, 0);
        }
        match self.stream.read(&mut self.input[self.input_len..]) {
            Ok(0) => Err(closed()),
            Ok(n) => {
                self.input_len += n;
                Ok(true)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

/// A redirection to `:port` (Redis 7 with `cluster-preferred-endpoint-type
/// unknown-endpoint`) means the host the client already talks to: the seed's.
fn same_host(address: String, seed: &str) -> String {
    match (address.strip_prefix(':'), seed.rsplit_once(':')) {
        (Some(port), Some((host, _))) => format!("{host}:{port}"),
        _ => address,
    }
}

fn record(record: &mut Record, scanned: reply::Scanned, bytes_out: usize, micros: u64) {
    record.latency(micros);
    record.bytes_out += bytes_out as u64;
    record.bytes_in += scanned.len as u64;
    match scanned.kind {
        Kind::Error => record.errors += 1,
        Kind::Null => record.misses += 1,
        Kind::Value | Kind::Push => record.hits += 1,
    }
}

fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the server closed the connection",
    )
}

/// Switches the connection to RESP3; a server without it answers with an error.
fn hello3(stream: &mut TcpStream) -> io::Result<()> {
    let mut request = Vec::new();
    encode(&[b"HELLO", b"3"], &mut request);
    stream.write_all(&request)?;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(closed());
        }
        reply.extend_from_slice(&chunk[..n]);
        let scanned =
            reply::scan(&reply).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        match scanned {
            None => continue,
            Some(s) if s.kind == Kind::Error => {
                let text = String::from_utf8_lossy(&reply[1..s.len - 2]).into_owned();
                return Err(io::Error::other(format!("HELLO 3 failed: {text}")));
            }
            Some(_) => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_without_host_is_on_the_seed_host() {
        assert_eq!(same_host(":7001".into(), "10.0.0.5:7000"), "10.0.0.5:7001");
        assert_eq!(
            same_host("10.0.0.6:7001".into(), "10.0.0.5:7000"),
            "10.0.0.6:7001"
        );
    }
}
