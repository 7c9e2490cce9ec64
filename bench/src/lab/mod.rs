//! `holdfast-bench lab up|down`: starts a topology of real processes for a person or a
//! script to attack by hand, and tears it down again.
//!
//! ```text
//! lab up --dir D [--proxy] [--netns]
//!   ├─ [netns] namespace + veth + nft table ([`netns`])
//!   ├─ node1: holdfast-server (in the namespace with --netns), data in D/node1/data
//!   ├─ [proxy] holdfast-bench proxy in front of node1, with its control port
//!   └─ D/lab.json: pids, addresses, namespace; printed: how to reach each piece
//! lab down --dir D: stops the processes lab.json names, removes the namespace
//! ```
//!
//! One node is all there is today; replicas and three log peers in "three AZs" (with a
//! one-way delay between them through proxies) come with the replication issues, and
//! `--nodes` refuses more until then. The processes outlive `lab up` (each in its own
//! process group, output in D/*.log); `lab down` checks that a pid still runs the
//! program it started before signalling it, so a recycled pid is left alone.

pub mod netns;

use crate::resp::{Connection, Reply};
use netns::Namespace;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a node may take to answer PING, and the proxy to listen.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a process may take to exit after SIGTERM before it gets SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(clap::Args, Debug)]
pub struct LabArgs {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(clap::Subcommand, Debug)]
pub enum Action {
    /// Start the topology in --dir, write --dir/lab.json, print how to reach each node.
    Up(UpArgs),
    /// Stop everything --dir/lab.json names and remove its network namespace.
    Down(DownArgs),
}

#[derive(clap::Args, Debug)]
pub struct UpArgs {
    /// Where the nodes' data, logs and lab.json go.
    #[arg(long, value_name = "DIR", default_value = "lab")]
    pub dir: PathBuf,
    /// Nodes to start; one today (replication does not exist yet).
    #[arg(long, default_value_t = 1)]
    pub nodes: u32,
    /// Put a fault proxy (`holdfast-bench proxy`) in front of each node.
    #[arg(long)]
    pub proxy: bool,
    /// Run each node in its own network namespace behind a veth, with an nftables table
    /// ready for partitions (root).
    #[arg(long)]
    pub netns: bool,
    /// The holdfast-server program. Default: the one beside holdfast-bench.
    #[arg(long, value_name = "PATH", default_value_os_t = crate::chaos::default_holdfast_bin(), hide_default_value = true)]
    pub holdfast_bin: PathBuf,
    /// The nodes' --durability.
    #[arg(long, default_value = "local")]
    pub durability: String,
    /// The nodes' --threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

#[derive(clap::Args, Debug)]
pub struct DownArgs {
    /// The directory `lab up` wrote lab.json to.
    #[arg(long, value_name = "DIR", default_value = "lab")]
    pub dir: PathBuf,
}

/// What `lab up` started: D/lab.json.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Lab {
    pub nodes: Vec<Node>,
    pub proxies: Vec<ProxyProcess>,
    pub netns: Option<Namespace>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    pub pid: u32,
    /// Where clients reach it directly.
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    /// The program's file name, checked against /proc before signalling the pid.
    pub program: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProxyProcess {
    /// The node it fronts.
    pub node: String,
    pub pid: u32,
    /// Where clients connect to reach the node through the faults.
    pub addr: SocketAddr,
    /// The text control port ([`crate::proxy::control`]).
    pub control: SocketAddr,
    pub log: PathBuf,
    pub program: String,
}

/// Why the lab could not be brought up or down; the text says what to do.
#[derive(Debug)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

fn io_error(context: impl fmt::Display) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error(format!("{context}: {e}"))
}

pub fn run(args: &LabArgs) -> Result<(), Error> {
    match &args.action {
        Action::Up(up_args) => up(up_args).map(|lab| print!("{}", describe(&lab, &up_args.dir))),
        Action::Down(down_args) => down(&down_args.dir),
    }
}

fn state_path(dir: &Path) -> PathBuf {
    dir.join("lab.json")
}

/// Starts the topology of `args`, writes lab.json, and returns what it started. On an
/// error, whatever was started is stopped again.
pub fn up(args: &UpArgs) -> Result<Lab, Error> {
    if args.nodes != 1 {
        return Err(Error(
            "--nodes 1 is all there is today: replicas and log peers come with the \
             replication issues"
                .into(),
        ));
    }
    if state_path(&args.dir).exists() {
        return Err(Error(format!(
            "{} exists: a lab is up there; run `holdfast-bench lab down --dir {}` first",
            state_path(&args.dir).display(),
            args.dir.display()
        )));
    }
    if !args.holdfast_bin.is_file() {
        return Err(Error(format!(
            "holdfast-server not found at {}; build it with `cargo build -p holdfast-server` \
             or pass --holdfast-bin PATH",
            args.holdfast_bin.display()
        )));
    }
    if let Some(why) = args.netns.then(netns::unavailable).flatten() {
        return Err(Error(why));
    }
    std::fs::create_dir_all(&args.dir)
        .map_err(io_error(format!("creating {}", args.dir.display())))?;
    let dir = args
        .dir
        .canonicalize()
        .map_err(io_error(format!("resolving {}", args.dir.display())))?;
    let mut lab = Lab {
        nodes: Vec::new(),
        proxies: Vec::new(),
        netns: args.netns.then(|| Namespace::plan(std::process::id())),
    };
    let started = start_all(args, &dir, &mut lab).and_then(|()| {
        let json = serde_json::to_string_pretty(&lab).expect("the lab state serializes");
        std::fs::write(state_path(&dir), json + "\n")
            .map_err(io_error(format!("writing {}", state_path(&dir).display())))
    });
    if let Err(e) = started {
        stop(&lab);
        return Err(e);
    }
    Ok(lab)
}

fn start_all(args: &UpArgs, dir: &Path, lab: &mut Lab) -> Result<(), Error> {
    if let Some(ns) = &lab.netns {
        ns.create().map_err(Error)?;
    }
    let node = start_node(args, dir, "node1", lab.netns.as_ref())?;
    lab.nodes.push(node);
    if args.proxy {
        let proxy = start_proxy(dir, &lab.nodes[0])?;
        lab.proxies.push(proxy);
    }
    Ok(())
}

fn start_node(
    args: &UpArgs,
    dir: &Path,
    name: &str,
    ns: Option<&Namespace>,
) -> Result<Node, Error> {
    let data_dir = dir.join(name).join("data");
    std::fs::create_dir_all(&data_dir)
        .map_err(io_error(format!("creating {}", data_dir.display())))?;
    let ip = ns.map_or(Ipv4Addr::LOCALHOST, |ns| ns.node_addr);
    let addr = SocketAddr::new(IpAddr::V4(ip), free_port()?);
    let log = dir.join(format!("{name}.log"));
    let mut command = match ns {
        Some(ns) => {
            let mut command = Command::new("ip");
            command.args(ns.exec_prefix()).arg(&args.holdfast_bin);
            command
        }
        None => Command::new(&args.holdfast_bin),
    };
    command
        .arg("--durability")
        .arg(&args.durability)
        .arg("--dir")
        .arg(&data_dir)
        .args([
            "--bind",
            &ip.to_string(),
            "--port",
            &addr.port().to_string(),
        ])
        .args(["--threads", &args.threads.to_string()]);
    let pid = spawn_detached(&mut command, &log)?;
    let node = Node {
        name: name.to_string(),
        pid,
        addr,
        data_dir,
        log,
        program: file_name(&args.holdfast_bin),
    };
    wait_until(|| answers_ping(addr), pid, &node.log, "answer PING")?;
    Ok(node)
}

fn start_proxy(dir: &Path, node: &Node) -> Result<ProxyProcess, Error> {
    let exe = std::env::current_exe().map_err(io_error("finding holdfast-bench"))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let control = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let log = dir.join(format!("proxy-{}.log", node.name));
    let mut command = Command::new(&exe);
    command.args([
        "proxy",
        "--listen",
        &addr.to_string(),
        "--upstream",
        &node.addr.to_string(),
        "--control",
        &control.to_string(),
    ]);
    let pid = spawn_detached(&mut command, &log)?;
    let ready = || TcpStream::connect_timeout(&control, Duration::from_secs(1)).is_ok();
    wait_until(ready, pid, &log, "listen")?;
    Ok(ProxyProcess {
        node: node.name.clone(),
        pid,
        addr,
        control,
        log,
        program: file_name(&exe),
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Starts `command` in its own process group (so a Ctrl-C to `lab up` does not reach
/// it), its output appended to `log`.
fn spawn_detached(command: &mut Command, log: &Path) -> Result<u32, Error> {
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .map_err(io_error(format!("opening {}", log.display())))?;
    let err = out
        .try_clone()
        .map_err(io_error("duplicating the log file"))?;
    let child = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(io_error(format!("starting {command:?}")))?;
    Ok(child.id())
}

fn wait_until(ready: impl Fn() -> bool, pid: u32, log: &Path, what: &str) -> Result<(), Error> {
    let deadline = Instant::now() + READY_TIMEOUT;
    while !ready() {
        if !alive(pid) || Instant::now() > deadline {
            let log_text = std::fs::read_to_string(log).unwrap_or_default();
            return Err(Error(format!(
                "pid {pid} did not {what} within {READY_TIMEOUT:?}; {}:\n{log_text}",
                log.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn answers_ping(addr: SocketAddr) -> bool {
    Connection::connect_to(addr, Duration::from_secs(1))
        .and_then(|mut conn| conn.call(&[b"PING"]))
        .is_ok_and(|reply| reply == Reply::Simple("PONG".into()))
}

fn free_port() -> Result<u16, Error> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(io_error("finding a free port"))
}

/// Whether `pid` is a live process (a zombie nobody reaped yet counts as gone).
pub fn alive(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The state follows the command name, which is in parentheses and may hold spaces.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    matches!(state, Some(s) if s != "Z" && s != "X")
}

/// Whether `pid` still runs `program` (and not some later process given the same pid).
fn runs(pid: u32, program: &str) -> bool {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
    alive(pid) && Path::new(&*String::from_utf8_lossy(argv0)).ends_with(program)
}

/// Stops the lab in `dir` and removes lab.json; the data directories stay.
pub fn down(dir: &Path) -> Result<(), Error> {
    let path = state_path(dir);
    let text = std::fs::read_to_string(&path).map_err(io_error(format!(
        "reading {} (is a lab up in {}?)",
        path.display(),
        dir.display()
    )))?;
    let lab: Lab =
        serde_json::from_str(&text).map_err(|e| Error(format!("{}: {e}", path.display())))?;
    stop(&lab);
    std::fs::remove_file(&path).map_err(io_error(format!("removing {}", path.display())))?;
    println!(
        "lab down: stopped {} processes; data kept in {}",
        lab.nodes.len() + lab.proxies.len(),
        dir.display()
    );
    Ok(())
}

/// Stops the proxies, then the nodes, then removes the namespace.
fn stop(lab: &Lab) {
    let processes = lab
        .proxies
        .iter()
        .map(|p| (p.pid, p.program.as_str()))
        .chain(lab.nodes.iter().map(|n| (n.pid, n.program.as_str())));
    for (pid, program) in processes {
        terminate(pid, program);
    }
    if let Some(ns) = &lab.netns {
        ns.remove();
    }
}

/// SIGTERM, then SIGKILL if `pid` has not exited in time; nothing if `pid` no longer
/// runs `program`.
fn terminate(pid: u32, program: &str) {
    if !runs(pid, program) {
        return;
    }
    let signal = |signal| {
        // SAFETY: kill only sends a signal; the pid was checked to run our program.
        unsafe { libc::kill(pid as libc::pid_t, signal) };
    };
    signal(libc::SIGTERM);
    let deadline = Instant::now() + STOP_TIMEOUT;
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if alive(pid) {
        signal(libc::SIGKILL);
    }
}

/// How to reach each piece, as `lab up` prints it.
pub fn describe(lab: &Lab, dir: &Path) -> String {
    let mut out = format!(
        "lab up in {} (state: {})\n",
        dir.display(),
        state_path(dir).display()
    );
    for node in &lab.nodes {
        out += &format!(
            "{}: redis-cli -h {} -p {}   (holdfast-server pid {}, data {}, log {})\n",
            node.name,
            node.addr.ip(),
            node.addr.port(),
            node.pid,
            node.data_dir.display(),
            node.log.display()
        );
    }
    for proxy in &lab.proxies {
        out += &format!(
            "proxy for {}: redis-cli -h {} -p {}   (pid {})\n  faults: bash -c \"exec 3<>/dev/tcp/{}/{}; \
             echo 'delay both 300' >&3; head -1 <&3\"   (commands: delay, loss, drop, \
             partition, cut, pause, heal, status; see holdfast-bench proxy --help)\n",
            proxy.node,
            proxy.addr.ip(),
            proxy.addr.port(),
            proxy.pid,
            proxy.control.ip(),
            proxy.control.port()
        );
    }
    if let Some(ns) = &lab.netns {
        out += &format!(
            "netns: the node runs in namespace {} at {}, reached through veth {} ({}); \
             partition it with `ip netns exec {} nft add rule inet {} input drop`, heal with \
             `ip netns exec {} nft flush chain inet {} input`\n",
            ns.name,
            ns.node_addr,
            ns.host_veth,
            ns.host_addr,
            ns.name,
            netns::TABLE,
            ns.name,
            netns::TABLE
        );
    }
    out += &format!("stop: holdfast-bench lab down --dir {}\n", dir.display());
    out
}
