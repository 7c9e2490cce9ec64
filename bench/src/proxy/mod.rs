//! The TCP fault proxy: listens on a port, forwards every connection to an upstream
//! address, and injects network faults per direction on command. Plain `std::net` and
//! threads, no root: `cargo test`, the chaos runner and `lab` all use it.
//!
//! ```text
//!  client ──► listener ──► connection ──┬─ pipe Up   (client → server) ─┬──► upstream
//!                              │        └─ pipe Down (server → client) ─┘
//!                              ▼
//!                   registry of live connections (cut closes them all)
//!        control: the chaos runner (Proxy::apply) or the text control port
//! ```
//!
//! - [`link`]: the faults of one direction and the pipe that forwards under them
//!   (delay with jitter, loss as a retransmission hold, drop as a broken connection,
//!   partition as holding everything).
//! - [`control`]: the commands, and the tiny text control port that takes them.
//!
//! Faults of the whole proxy, beside those per direction:
//!
//! - `cut`: every connection is shut down and the listening socket closed, so new
//!   connections are refused (ECONNREFUSED) until `heal`.
//! - `pause`: the proxy stops as if SIGSTOPped: nothing is forwarded in either
//!   direction and nothing accepted (connections wait in the listen backlog).
//! - `heal`: back to a healthy link; held bytes flow on, in order.

pub mod control;
pub mod link;

use control::Command;
use link::{Direction, LinkFaults};
use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the accept loops look at their stop and cut flags between connections.
const ACCEPT_POLL: Duration = Duration::from_millis(2);
/// How long a new connection's upstream may take to accept.
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What every thread of the proxy reads and the commands change.
#[derive(Default)]
struct State {
    up: LinkFaults,
    down: LinkFaults,
    cut: bool,
    paused: bool,
    stopping: bool,
    /// Live connections: the client and upstream sockets, to shut down on a cut.
    connections: HashMap<u64, (TcpStream, TcpStream)>,
}

impl State {
    fn link(&mut self, direction: Direction) -> &mut LinkFaults {
        match direction {
            Direction::Up => &mut self.up,
            Direction::Down => &mut self.down,
        }
    }
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    next_connection: AtomicU64,
    /// Connections accepted so far.
    accepted: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn close(&self, id: u64) {
        if let Some((client, upstream)) = self.lock().connections.remove(&id) {
            let _ = client.shutdown(Shutdown::Both);
            let _ = upstream.shutdown(Shutdown::Both);
        }
    }

    fn close_all(state: &mut State) {
        for (_, (client, upstream)) in state.connections.drain() {
            let _ = client.shutdown(Shutdown::Both);
            let _ = upstream.shutdown(Shutdown::Both);
        }
    }
}

impl link::Control for Shared {
    fn faults(&self, direction: Direction) -> LinkFaults {
        self.lock().link(direction).clone()
    }

    fn wait_until_forwarding(&self, direction: Direction) -> bool {
        let mut state = self.lock();
        loop {
            if state.stopping || state.cut {
                return false;
            }
            if !state.paused && !state.link(direction).held {
                return true;
            }
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
}

/// A running proxy; dropping it closes every connection and stops its threads.
pub struct Proxy {
    shared: Arc<Shared>,
    listen: SocketAddr,
    upstream: SocketAddr,
    threads: Vec<JoinHandle<()>>,
}

impl Proxy {
    /// Listens on `listen` (port 0 picks a free one) and forwards to `upstream`; `seed`
    /// fixes the random choices of the loss and drop faults.
    pub fn start(listen: SocketAddr, upstream: SocketAddr, seed: u64) -> io::Result<Proxy> {
        let listener = TcpListener::bind(listen)?;
        let listen = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let accepting = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("proxy-accept".into())
                .spawn(move || accept_loop(&shared, listener, listen, upstream, seed))?
        };
        Ok(Proxy {
            shared,
            listen,
            upstream,
            threads: vec![accepting],
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.listen
    }

    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// Connections accepted since the start.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Serves the text control port on `addr` (port 0 picks one) until the proxy is
    /// dropped; returns where it listens.
    pub fn serve_control(&mut self, addr: SocketAddr) -> io::Result<SocketAddr> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let shared = Arc::clone(&self.shared);
        let handle = std::thread::Builder::new()
            .name("proxy-control".into())
            .spawn(move || control::serve(&shared, listener))?;
        self.threads.push(handle);
        Ok(addr)
    }

    /// Applies a command; answers the status line for `status`, else "OK".
    pub fn apply(&self, command: &Command) -> String {
        apply(&self.shared, command)
    }
}

/// What a command does to the proxy's state.
fn apply(shared: &Shared, command: &Command) -> String {
    let mut state = shared.lock();
    let mut each = |directions: &[Direction], change: &dyn Fn(&mut LinkFaults)| {
        for &direction in directions {
            change(state.link(direction));
        }
    };
    match command {
        Command::Delay {
            directions,
            delay,
            jitter,
        } => each(directions, &|link| {
            (link.delay, link.jitter) = (*delay, *jitter)
        }),
        Command::Loss { directions, p } => each(directions, &|link| link.loss = *p),
        Command::Drop { directions, p } => each(directions, &|link| link.drop = *p),
        Command::Partition { directions } => each(directions, &|link| link.held = true),
        Command::Cut => {
            state.cut = true;
            Shared::close_all(&mut state);
        }
        Command::Pause => state.paused = true,
        Command::Heal => {
            let connections = std::mem::take(&mut state.connections);
            *state = State {
                connections,
                ..State::default()
            };
        }
        Command::Status => return control::status(&state.up, &state.down, state.cut, state.paused),
    }
    shared.changed.notify_all();
    "OK".to_string()
}

impl Drop for Proxy {
    fn drop(&mut self) {
        {
            let mut state = self.shared.lock();
            state.stopping = true;
            Shared::close_all(&mut state);
        }
        self.shared.changed.notify_all();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Accepts connections until the proxy stops; closes the listening socket while cut and
/// opens it again on the same address when healed.
fn accept_loop(
    shared: &Arc<Shared>,
    listener: TcpListener,
    listen: SocketAddr,
    upstream: SocketAddr,
    seed: u64,
) {
    let mut listener = Some(listener);
    loop {
        let (stopping, cut, paused) = {
            let state = shared.lock();
            (state.stopping, state.cut, state.paused)
        };
        if stopping {
            return;
        }
        if cut {
            listener = None;
        } else if listener.is_none() {
            listener = TcpListener::bind(listen).ok();
        }
        let accepted = match listener.as_ref().filter(|_| !paused) {
            Some(listener) => listener
                .set_nonblocking(true)
                .and_then(|()| listener.accept()),
            None => Err(io::ErrorKind::WouldBlock.into()),
        };
        match accepted {
            Ok((client, _)) => {
                let id = shared.next_connection.fetch_add(1, Ordering::Relaxed);
                shared.accepted.fetch_add(1, Ordering::Relaxed);
                let shared = Arc::clone(shared);
                let seed = seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let _ = std::thread::Builder::new()
                    .name(format!("proxy-conn-{id}"))
                    .spawn(move || connection(&shared, id, client, upstream, seed));
            }
            Err(_) => std::thread::sleep(ACCEPT_POLL),
        }
    }
}

/// One client connection: connects upstream, forwards both directions, then forgets it.
fn connection(shared: &Shared, id: u64, client: TcpStream, upstream: SocketAddr, seed: u64) {
    let _ = client.set_nonblocking(false);
    let _ = client.set_nodelay(true);
    let Ok(server) = TcpStream::connect_timeout(&upstream, UPSTREAM_CONNECT_TIMEOUT) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let _ = server.set_nodelay(true);
    let registered = match (client.try_clone(), server.try_clone()) {
        (Ok(c), Ok(s)) => {
            let mut state = shared.lock();
            // A cut or stop that came while connecting must not miss this connection.
            let open = !state.cut && !state.stopping;
            if open {
                state.connections.insert(id, (c, s));
            }
            open
        }
        _ => false,
    };
    if !registered {
        let _ = client.shutdown(Shutdown::Both);
        let _ = server.shutdown(Shutdown::Both);
        return;
    }
    let close = || shared.close(id);
    std::thread::scope(|scope| {
        scope.spawn(|| link::pipe(shared, Direction::Up, &client, &server, seed, &close));
        link::pipe(shared, Direction::Down, &server, &client, !seed, &close);
    });
    shared.close(id);
}

/// Runs a fault proxy in the foreground until killed: for `lab`, and for trying faults
/// by hand against any TCP server.
#[derive(clap::Args, Debug)]
pub struct ProxyArgs {
    /// Where clients connect (port 0: any free port, printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// The server to forward to.
    #[arg(long, value_name = "ADDR")]
    pub upstream: SocketAddr,
    /// Where the text control port listens (port 0: any free port, printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub control: SocketAddr,
    /// Seed of the loss and drop faults' random choices.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Starts the proxy and its control port, prints where they listen, and serves forever.
pub fn run(args: &ProxyArgs) -> io::Result<()> {
    let mut proxy = Proxy::start(args.listen, args.upstream, args.seed)?;
    let control = proxy.serve_control(args.control)?;
    println!(
        "proxy: listening on {}, forwarding to {}, control port {control}",
        proxy.addr(),
        proxy.upstream()
    );
    io::Write::flush(&mut io::stdout())?;
    loop {
        std::thread::park();
    }
}
