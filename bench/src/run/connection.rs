//! One client connection: its socket, its output and input buffers, and the requests in
//! flight with the time each was meant to be sent.
//!
//! Latency is measured from the *intended* send time. In closed-loop mode that is when
//! the request is queued; in open-loop mode (`--rate`) it is the request's slot in the
//! schedule, so a request delayed because the server was slow to answer the one before
//! still counts the wait (no coordinated omission, as in wrk2).

use super::keys::{self, Cursor};
use super::record::Record;
use super::reply::{self, Kind};
use super::{Plan, Protocol};
use crate::resp::encode;
use fastrand::Rng;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

/// The read buffer starts here and doubles while one reply does not fit.
const INPUT_BYTES_INITIAL: usize = 64 * 1024;

struct InFlight {
    template: usize,
    intended: Instant,
    bytes_out: usize,
    /// Sent during the measured phase: only these are recorded.
    measured: bool,
}

/// Open-loop pacing of one connection.
struct Schedule {
    next: Instant,
    interval: Duration,
}

pub struct Connection {
    stream: TcpStream,
    out: Vec<u8>,
    out_at: usize,
    input: Vec<u8>,
    input_len: usize,
    in_flight: VecDeque<InFlight>,
    rng: Rng,
    cursors: Vec<Cursor>,
    key: Vec<u8>,
    /// Measured requests this connection may still send; `None` runs until stopped.
    budget: Option<u64>,
    schedule: Option<Schedule>,
}

impl Connection {
    /// Connects (and says HELLO 3 for RESP3) while blocking, then turns non-blocking.
    /// `index` of `of` places this connection's sequential and parallel key cursors.
    pub fn open(plan: &Plan, index: u64, of: u64) -> io::Result<Connection> {
        let mut stream = TcpStream::connect((plan.host.as_str(), plan.port))?;
        stream.set_nodelay(true)?;
        if plan.protocol == Protocol::Resp3 {
            hello3(&mut stream)?;
        }
        stream.set_nonblocking(true)?;
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
            stream,
            out: Vec::with_capacity(16 * 1024),
            out_at: 0,
            input: vec![0; INPUT_BYTES_INITIAL],
            input_len: 0,
            in_flight: VecDeque::with_capacity(plan.pipeline),
            rng,
            cursors,
            key: Vec::with_capacity(plan.key_prefix.len() + 20),
            budget,
            schedule,
        })
    }

    pub fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    pub fn wants_write(&self) -> bool {
        self.out_at < self.out.len()
    }

    /// Sent all its measured requests and heard every reply.
    pub fn is_done(&self) -> bool {
        self.budget == Some(0) && self.in_flight.is_empty()
    }

    /// When this connection next wants to send, if it is paced and has room to.
    pub fn next_send(&self, plan: &Plan) -> Option<Instant> {
        let room = self.in_flight.len() < plan.pipeline && self.budget != Some(0);
        self.schedule.as_ref().filter(|_| room).map(|s| s.next)
    }

    /// Queues requests up to the pipeline depth (and, paced, up to `now`).
    pub fn fill(&mut self, plan: &Plan, now: Instant, measuring: bool) {
        while self.in_flight.len() < plan.pipeline {
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
        let before = self.out.len();
        spec.encode(&self.key, &plan.data[..size], &mut self.out);
        if measuring {
            self.budget = self.budget.map(|b| b - 1);
        }
        self.in_flight.push_back(InFlight {
            template,
            intended,
            bytes_out: self.out.len() - before,
            measured: measuring,
        });
    }

    /// Writes what the socket takes now.
    pub fn flush(&mut self) -> io::Result<()> {
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

    /// Reads what arrived and records every complete reply as of `now`; returns how
    /// many measured replies completed and their latency sum in microseconds.
    pub fn receive(&mut self, now: Instant, records: &mut [Record]) -> io::Result<(u64, u64)> {
        if self.input_len == self.input.len() {
            self.input.resize(self.input.len() * 2, 0);
        }
        match self.stream.read(&mut self.input[self.input_len..]) {
            Ok(0) => return Err(closed()),
            Ok(n) => self.input_len += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                return Ok((0, 0))
            }
            Err(e) => return Err(e),
        }
        self.consume(now, records)
    }

    fn consume(&mut self, now: Instant, records: &mut [Record]) -> io::Result<(u64, u64)> {
        let mut at = 0;
        let (mut ops, mut latency_sum_us) = (0, 0);
        while let Some(scanned) = reply::scan(&self.input[at..self.input_len])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
        {
            at += scanned.len;
            if scanned.kind == Kind::Push {
                continue;
            }
            let request = self.in_flight.pop_front().ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, "a reply to no request")
            })?;
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
        self.input.copy_within(at..self.input_len, 0);
        self.input_len -= at;
        Ok((ops, latency_sum_us))
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
