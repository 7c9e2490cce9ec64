//! Pub/Sub between connections on both cores (`--threads 2`): what the one-connection
//! differential (diff/pubsub.txt) cannot show.
//!
//! - Every subscriber, on either core, gets every message, in each publisher's order.
//! - Pattern subscribers get `pmessage`; commands naming several channels confirm each.
//! - A subscriber that never reads is disconnected at client-output-buffer-limit pubsub
//!   instead of growing the server's memory (DESIGN.md invariant 7: one bad client costs
//!   nothing but itself).

mod common;
use common::Server;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[test]
fn every_subscriber_gets_every_message_in_publisher_order() {
    const SUBSCRIBERS: usize = 6;
    const PUBLISHERS: usize = 3;
    const MESSAGES: usize = 150;
    let server = Server::start();
    let subscribers: Vec<_> = (0..SUBSCRIBERS)
        .map(|_| {
            let mut con = server.client();
            con.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let _: () = redis::cmd("SUBSCRIBE").arg("news").query(&mut con).unwrap();
            con
        })
        .collect();
    let readers: Vec<_> = subscribers
        .into_iter()
        .map(|mut con| {
            std::thread::spawn(move || {
                let mut pubsub = con.as_pubsub();
                let mut next = [0usize; PUBLISHERS];
                for _ in 0..PUBLISHERS * MESSAGES {
                    let msg = pubsub.get_message().expect("a message");
                    let payload: String = msg.get_payload().unwrap();
                    let (publisher, seq) = payload.split_once(':').unwrap();
                    let (publisher, seq): (usize, usize) =
                        (publisher.parse().unwrap(), seq.parse().unwrap());
                    assert_eq!(
                        seq, next[publisher],
                        "publisher {publisher}'s messages out of order"
                    );
                    next[publisher] += 1;
                }
                next
            })
        })
        .collect();
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|id| {
            let url = server.url();
            std::thread::spawn(move || {
                let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
                for seq in 0..MESSAGES {
                    let received: usize = redis::cmd("PUBLISH")
                        .arg("news")
                        .arg(format!("{id}:{seq}"))
                        .query(&mut con)
                        .unwrap();
                    assert_eq!(received, SUBSCRIBERS, "PUBLISH counted the wrong receivers");
                }
            })
        })
        .collect();
    publishers.into_iter().for_each(|p| p.join().unwrap());
    for reader in readers {
        assert_eq!(reader.join().unwrap(), [MESSAGES; PUBLISHERS]);
    }
}

/// Reads whatever arrives within `wait`.
fn drain(stream: &mut TcpStream, wait: Duration) -> String {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut all = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n) = stream.read(&mut chunk) {
        if n == 0 {
            break;
        }
        all.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&all).into_owned()
}

#[test]
fn patterns_and_several_channels_in_one_command() {
    let server = Server::start();
    let mut sub = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    sub.write_all(b"SUBSCRIBE a b\r\nPSUBSCRIBE n*\r\n")
        .unwrap();
    let confirmations = drain(&mut sub, Duration::from_millis(300));
    assert_eq!(
        confirmations,
        "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n\
         *3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:3\r\n"
    );
    let mut con = server.client();
    let _: usize = redis::cmd("PUBLISH")
        .arg("news")
        .arg("hi")
        .query(&mut con)
        .unwrap();
    let _: usize = redis::cmd("PUBLISH")
        .arg("b")
        .arg("bee")
        .query(&mut con)
        .unwrap();
    let messages = drain(&mut sub, Duration::from_millis(300));
    assert_eq!(
        messages,
        "*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n\
         *3\r\n$7\r\nmessage\r\n$1\r\nb\r\n$3\r\nbee\r\n"
    );
    sub.write_all(b"UNSUBSCRIBE\r\n").unwrap();
    let unsubscribed = drain(&mut sub, Duration::from_millis(300));
    assert_eq!(
        unsubscribed,
        "*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:2\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:1\r\n"
    );
}

#[test]
fn a_subscriber_that_never_reads_is_disconnected() {
    let server = Server::start();
    let mut con = server.client();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg("pubsub 256kb 0 0")
        .query(&mut con)
        .unwrap();
    let mut slow = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    slow.write_all(b"SUBSCRIBE firehose\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // 32 MiB of messages, pipelined: far more than the socket buffers and the limit.
    let mut publisher = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let payload = "x".repeat(4096);
    let batch: String = (0..256)
        .map(|_| format!("PUBLISH firehose {payload}\r\n"))
        .collect();
    let reader = {
        let mut replies = publisher.try_clone().unwrap();
        std::thread::spawn(move || drain(&mut replies, Duration::from_secs(5)).len())
    };
    for _ in 0..32 {
        publisher.write_all(batch.as_bytes()).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let counts: Vec<(String, usize)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg("firehose")
            .query(&mut con)
            .unwrap();
        if counts[0].1 == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slow subscriber is still connected"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(publisher);
    assert!(reader.join().unwrap() > 0);
}

#[test]
fn info_and_client_list_count_subscriptions_on_every_core() {
    let server = Server::start();
    let mut subs: Vec<TcpStream> = (0..4)
        .map(|i| {
            let mut sub = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
            sub.write_all(format!("SUBSCRIBE shared own{i}\r\nPSUBSCRIBE p*\r\n").as_bytes())
                .unwrap();
            sub
        })
        .collect();
    for sub in &mut subs {
        drain(sub, Duration::from_millis(200));
    }
    let mut con = server.client();
    let info: String = redis::cmd("INFO").arg("stats").query(&mut con).unwrap();
    assert!(info.contains("pubsub_channels:5\r\n"), "{info}");
    assert!(info.contains("pubsub_patterns:1\r\n"), "{info}");
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut con).unwrap();
    let subscribed = list
        .lines()
        .filter(|line| line.contains("flags=P ") && line.contains("sub=2 psub=1 ssub=0"))
        .count();
    assert_eq!(subscribed, 4, "{list}");
}
