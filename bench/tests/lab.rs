//! `holdfast-bench lab up|down` as a user runs it: the node answers where lab.json says,
//! the proxy in front of it takes faults on its control port, `down` stops every process
//! and (with --netns, as root) removes the namespace.

use holdfast_bench::lab::{alive, Lab};
use holdfast_bench::resp::{Connection, Reply};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_holdfast-bench"))
        .args(args)
        .output()
        .expect("run holdfast-bench")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("holdfast-lab-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn text(output: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn call(addr: SocketAddr, args: &[&[u8]]) -> std::io::Result<Reply> {
    Connection::connect_to(addr, Duration::from_millis(500))?.call(args)
}

fn read_lab(dir: &Path) -> Lab {
    serde_json::from_str(&std::fs::read_to_string(dir.join("lab.json")).unwrap()).unwrap()
}

fn control(addr: SocketAddr, line: &str) -> String {
    let stream = TcpStream::connect(addr).unwrap();
    writeln!(&stream, "{line}").unwrap();
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply).unwrap();
    reply.trim_end().to_string()
}

#[test]
fn lab_up_starts_a_node_behind_a_proxy_and_down_stops_them() {
    let dir = scratch("proxy");
    let path = dir.to_str().unwrap();
    let up = bench(&["lab", "up", "--dir", path, "--proxy"]);
    assert!(up.status.success(), "{}", text(&up));
    let lab = read_lab(&dir);
    let (node, proxy) = (&lab.nodes[0], &lab.proxies[0]);
    let printed = String::from_utf8_lossy(&up.stdout);
    assert!(
        printed.contains(&format!(
            "node1: redis-cli -h 127.0.0.1 -p {}",
            node.addr.port()
        )),
        "{printed}"
    );
    assert!(printed.contains(&format!(
        "proxy for node1: redis-cli -h 127.0.0.1 -p {}",
        proxy.addr.port()
    )));
    // A write through the proxy is read directly from the node.
    assert_eq!(
        call(proxy.addr, &[b"SET", b"lab", b"1"]).unwrap(),
        Reply::Simple("OK".into())
    );
    assert_eq!(
        call(node.addr, &[b"GET", b"lab"]).unwrap(),
        Reply::Bulk(Some(b"1".to_vec()))
    );
    // Partitioned through the control port, the proxy forwards nothing; healed, it does.
    assert_eq!(control(proxy.control, "partition both"), "OK");
    assert!(call(proxy.addr, &[b"PING"]).is_err());
    assert_eq!(control(proxy.control, "heal"), "OK");
    assert_eq!(
        call(proxy.addr, &[b"PING"]).unwrap(),
        Reply::Simple("PONG".into())
    );
    // A second lab in the same directory is refused.
    let again = bench(&["lab", "up", "--dir", path]);
    assert!(!again.status.success());
    assert!(
        text(&again).contains("a lab is up there"),
        "{}",
        text(&again)
    );
    let down = bench(&["lab", "down", "--dir", path]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(
        !alive(node.pid) && !alive(proxy.pid),
        "both processes stopped"
    );
    assert!(!dir.join("lab.json").exists());
    assert!(node.data_dir.exists(), "the data stays");
    assert!(!bench(&["lab", "down", "--dir", path]).status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn lab_up_refuses_more_nodes_than_exist_today() {
    let dir = scratch("nodes");
    let up = bench(&["lab", "up", "--dir", dir.to_str().unwrap(), "--nodes", "3"]);
    assert!(!up.status.success());
    assert!(
        text(&up).contains("--nodes 1 is all there is today"),
        "{}",
        text(&up)
    );
    assert!(!dir.join("lab.json").exists());
}

#[test]
fn lab_up_netns_puts_the_node_in_its_own_namespace() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: --netns needs root");
        return;
    }
    let dir = scratch("netns");
    let path = dir.to_str().unwrap();
    let up = bench(&["lab", "up", "--dir", path, "--netns"]);
    assert!(up.status.success(), "{}", text(&up));
    let lab = read_lab(&dir);
    let ns = lab.netns.clone().expect("a namespace in lab.json");
    let node = &lab.nodes[0];
    assert_eq!(node.addr.ip(), ns.node_addr);
    assert_eq!(
        call(node.addr, &[b"PING"]).unwrap(),
        Reply::Simple("PONG".into())
    );
    let namespaces = || {
        String::from_utf8_lossy(
            &Command::new("ip")
                .args(["netns", "list"])
                .output()
                .unwrap()
                .stdout,
        )
        .into_owned()
    };
    assert!(namespaces().contains(&ns.name));
    // The nftables table is ready: one rule partitions the node.
    let nft = |args: &[&str]| {
        let status = Command::new("ip")
            .args(["netns", "exec", &ns.name, "nft"])
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "nft {args:?}");
    };
    nft(&["add", "rule", "inet", "holdfast_lab", "input", "drop"]);
    assert!(call(node.addr, &[b"PING"]).is_err(), "partitioned");
    nft(&["flush", "chain", "inet", "holdfast_lab", "input"]);
    assert_eq!(
        call(node.addr, &[b"PING"]).unwrap(),
        Reply::Simple("PONG".into())
    );
    let down = bench(&["lab", "down", "--dir", path]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(!alive(node.pid));
    assert!(!namespaces().contains(&ns.name), "the namespace is gone");
    let _ = std::fs::remove_dir_all(&dir);
}
