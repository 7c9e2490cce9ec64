//! The fault proxy between a client and an echo server on loopback: bytes arrive intact
//! and in order under delay, jitter and loss; a one-way partition holds one direction
//! only; a cut closes connections and refuses new ones; the control port takes commands.

use holdfast_bench::proxy::control::Command;
use holdfast_bench::proxy::Proxy;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An echo server counting the bytes it has received.
fn echo_server() -> (SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&received);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let counter = Arc::clone(&counter);
            std::thread::spawn(move || {
                let mut buffer = [0; 8192];
                while let Ok(n @ 1..) = stream.read(&mut buffer) {
                    counter.fetch_add(n as u64, Ordering::SeqCst);
                    if stream.write_all(&buffer[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, received)
}

fn proxy_to_echo() -> (Proxy, Arc<AtomicU64>) {
    let (echo, received) = echo_server();
    let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), echo, 7).unwrap();
    (proxy, received)
}

fn connect(proxy: &Proxy) -> TcpStream {
    let stream = TcpStream::connect(proxy.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

fn command(proxy: &Proxy, line: &str) {
    assert_eq!(proxy.apply(&line.parse::<Command>().unwrap()), "OK");
}

/// Whether `stream` gets any byte within `wait`.
fn receives_within(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut byte = [0; 1];
    let got = matches!(stream.read(&mut byte), Ok(1));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    got
}

#[test]
fn bytes_arrive_intact_and_in_order_under_delay_jitter_and_loss() {
    let (proxy, _) = proxy_to_echo();
    command(&proxy, "delay both 40 30");
    command(&proxy, "loss up 0.05");
    let mut stream = connect(&proxy);
    let data: Vec<u8> = (0..400_000u32).map(|i| (i * 7 + i / 256) as u8).collect();
    let started = Instant::now();
    let mut writer = stream.try_clone().unwrap();
    let sent = data.clone();
    let sending = std::thread::spawn(move || {
        for piece in sent.chunks(997) {
            writer.write_all(piece).unwrap();
        }
    });
    let mut echoed = vec![0; data.len()];
    stream.read_exact(&mut echoed).unwrap();
    sending.join().unwrap();
    assert!(echoed == data, "the echo differs from what was sent");
    assert!(
        started.elapsed() >= Duration::from_millis(80),
        "two 40 ms delays: {:?}",
        started.elapsed()
    );
}

#[test]
fn a_delay_delays_each_round_trip() {
    let (proxy, _) = proxy_to_echo();
    command(&proxy, "delay up 150");
    let mut stream = connect(&proxy);
    let mut reply = [0; 4];
    let started = Instant::now();
    stream.write_all(b"ping").unwrap();
    stream.read_exact(&mut reply).unwrap();
    let slow = started.elapsed();
    command(&proxy, "heal");
    let started = Instant::now();
    stream.write_all(b"pong").unwrap();
    stream.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"pong");
    assert!(slow >= Duration::from_millis(150), "{slow:?}");
    assert!(started.elapsed() < Duration::from_millis(150));
}

#[test]
fn a_one_way_partition_holds_one_direction_only() {
    let (proxy, received) = proxy_to_echo();
    let mut stream = connect(&proxy);
    // Server to client cut off: the request gets through, the echo does not.
    command(&proxy, "partition down");
    stream.write_all(b"hello").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while received.load(Ordering::SeqCst) < 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        received.load(Ordering::SeqCst),
        5,
        "the server got the request"
    );
    assert!(!receives_within(&mut stream, Duration::from_millis(300)));
    // Healed, the held echo arrives, intact.
    command(&proxy, "heal");
    let mut echo = [0; 5];
    stream.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"hello");
    // Client to server cut off: nothing reaches the server, even on a new connection.
    command(&proxy, "partition up");
    let mut fresh = connect(&proxy);
    stream.write_all(b"lost?").unwrap();
    fresh.write_all(b"again").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(received.load(Ordering::SeqCst), 5, "nothing got through");
    command(&proxy, "heal");
    let mut echo = [0; 5];
    stream.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"lost?");
    fresh.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"again");
}

#[test]
fn a_cut_closes_connections_and_refuses_new_ones_until_healed() {
    let (proxy, _) = proxy_to_echo();
    let mut stream = connect(&proxy);
    stream.write_all(b"x").unwrap();
    let mut echo = [0; 1];
    stream.read_exact(&mut echo).unwrap();
    command(&proxy, "cut");
    let mut rest = Vec::new();
    let closed = matches!(stream.read_to_end(&mut rest), Ok(0) | Err(_));
    assert!(closed, "the open connection was closed");
    // The listener goes away on the accept loop's next turn.
    std::thread::sleep(Duration::from_millis(50));
    let refused = TcpStream::connect(proxy.addr()).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    command(&proxy, "heal");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut stream = loop {
        match TcpStream::connect(proxy.addr()) {
            Ok(stream) => break stream,
            Err(e) if Instant::now() > deadline => panic!("still refused after heal: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    stream.write_all(b"y").unwrap();
    stream.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"y");
}

#[test]
fn drop_closes_the_connection_and_pause_holds_everything() {
    let (proxy, received) = proxy_to_echo();
    command(&proxy, "drop up 1");
    let mut stream = connect(&proxy);
    stream.write_all(b"gone").unwrap();
    let mut rest = Vec::new();
    assert!(matches!(stream.read_to_end(&mut rest), Ok(0) | Err(_)));
    assert_eq!(
        received.load(Ordering::SeqCst),
        0,
        "the dropped bytes never arrive"
    );
    command(&proxy, "heal");
    let mut stream = connect(&proxy);
    command(&proxy, "pause");
    stream.write_all(b"held").unwrap();
    assert!(!receives_within(&mut stream, Duration::from_millis(300)));
    assert_eq!(received.load(Ordering::SeqCst), 0);
    command(&proxy, "heal");
    let mut echo = [0; 4];
    stream.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"held");
}

#[test]
fn the_control_port_takes_commands_and_answers_status() {
    let (mut proxy, _) = proxy_to_echo();
    let control = proxy.serve_control("127.0.0.1:0".parse().unwrap()).unwrap();
    let stream = TcpStream::connect(control).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut ask = |line: &str| {
        writeln!(writer, "{line}").unwrap();
        let mut reply = String::new();
        reader.read_line(&mut reply).unwrap();
        reply.trim_end().to_string()
    };
    assert_eq!(ask("delay down 300 20"), "OK");
    assert_eq!(ask("partition up"), "OK");
    let status = ask("status");
    assert!(
        status.starts_with("up: delay=0ms jitter=0ms loss=0 drop=0 partitioned=true; down: delay=300ms jitter=20ms"),
        "{status}"
    );
    assert!(ask("delay sideways 1").starts_with("ERR direction must be up, down or both"));
    assert_eq!(ask("heal"), "OK");
    assert!(ask("status").contains("partitioned=false"));
}
